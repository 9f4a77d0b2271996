// The desk's comment form: a reply the requester sees, or (the "Internal
// note" switch, staff only: the server refuses it to anyone else) a note
// only staff see. The switch changes the label, the button and the hint in
// words, not only in colour.
import { useState, type FormEvent } from "react";
import { Button, Group, Paper, Stack, Switch, Text } from "@mantine/core";
import { AutoTextarea } from "../../ui/AutoTextarea";
import { FormAlert, useFormErrors } from "../../ui/errors";
import type { ServiceRequest } from "../portal/requestsApi";
import { useDeskComment } from "./deskApi";
import { memoOn } from "../portal/RequestParts";

export const DeskCommentForm = memoOn(function DeskCommentForm({ request, mayNote }: { request: ServiceRequest; mayNote: boolean }) {
  const comment = useDeskComment(request.id);
  const errs = useFormErrors();
  const [body, setBody] = useState("");
  const [internal, setInternal] = useState(false);
  const note = mayNote && internal;
  const submit = (e: FormEvent) => {
    e.preventDefault();
    errs.clear();
    comment.mutate({ body, internal: note }, { onSuccess: () => setBody(""), onError: (x) => errs.setError(x) });
  };
  return (
    <Paper
      withBorder
      p="md"
      style={note ? { borderLeft: "4px solid var(--mantine-color-yellow-7)" } : undefined}
      data-testid="desk-comment"
    >
      <form onSubmit={submit} noValidate aria-label="Comment">
        <Stack gap="xs">
          <FormAlert error={errs.error} fields={["body", "internal"]} />
          {mayNote && (
            <Switch
              label="Internal note"
              description="Only staff see internal notes; the requester is never shown or told"
              checked={internal}
              onChange={(e) => setInternal(e.currentTarget.checked)}
              error={errs.fieldError("internal")}
              data-testid="comment-internal"
            />
          )}
          <AutoTextarea
            label={note ? "Internal note (not visible to the requester)" : "Add a comment (the requester sees it)"}
            name="body"
            minRows={2}
            maxLength={4000}
            value={body}
            onChange={(e) => setBody(e.currentTarget.value)}
            error={errs.fieldError("body")}
            data-testid="comment-body"
          />
          <Group justify="space-between">
            <Text size="xs" c="dimmed" aria-live="polite">
              {note ? "Internal — not visible to the requester" : "Visible to everyone who sees the request"}
            </Text>
            <Button type="submit" loading={comment.isPending} disabled={!body.trim()} data-testid="comment-submit">
              {note ? "Add internal note" : "Post comment"}
            </Button>
          </Group>
        </Stack>
      </form>
    </Paper>
  );
}, ["id"]);
