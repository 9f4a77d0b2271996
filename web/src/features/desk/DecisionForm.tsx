// Approve, reject or delegate one's task at a request's open approval level,
// with a comment (docs/workflows.md, Approvals). Used in the inbox and on a
// request's page. Delegation names another active user: staff and admins
// pick from the users list; others (approvers may not list users) give the
// user's id.
import { useState } from "react";
import { Button, Group, NativeSelect, Stack, TextInput } from "@mantine/core";
import { AutoTextarea } from "../../ui/AutoTextarea";
import { useMe } from "../../api/me";
import { FormAlert, notifyOk, useFormErrors } from "../../ui/errors";
import { useApprovalWrites, useUsers } from "../portal/requestsApi";

export function DecisionForm({ requestId, title, requester }: { requestId: string; title: string; requester?: string }) {
  const me = useMe();
  const { decide, delegate } = useApprovalWrites();
  const errs = useFormErrors();
  const [comment, setComment] = useState("");
  const [delegating, setDelegating] = useState(false);
  const [to, setTo] = useState("");
  const mayList = me.user?.role === "staff" || me.user?.role === "admin";
  const users = useUsers(mayList && delegating);
  const busy = decide.isPending || delegate.isPending;
  const onError = (x: unknown) => errs.setError(x);

  const doDecide = (decision: "approve" | "reject") => {
    errs.clear();
    decide.mutate(
      { id: requestId, decision, comment: comment.trim() || undefined },
      {
        onSuccess: () => {
          setComment("");
          notifyOk(`${decision === "approve" ? "Approved" : "Rejected"}: “${title}”`);
        },
        onError,
      },
    );
  };
  const doDelegate = () => {
    errs.clear();
    delegate.mutate(
      { id: requestId, to: to.trim(), comment: comment.trim() || undefined },
      {
        onSuccess: () => {
          setComment("");
          setDelegating(false);
          notifyOk(`Delegated: “${title}”`);
        },
        onError,
      },
    );
  };
  const candidates = (users.data ?? []).filter(
    (u) => u.status === "active" && u.id !== me.user?.id && u.id !== requester && u.role !== "customer",
  );
  return (
    <form onSubmit={(e) => e.preventDefault()} noValidate aria-label={`Decide on ${title}`} data-testid="decision-form">
      <Stack gap="xs">
        <FormAlert error={errs.error} fields={["comment", "to"]} />
        <AutoTextarea
          label="Comment (the requester sees it)"
          name="comment"
          minRows={1}
          maxLength={2000}
          value={comment}
          onChange={(e) => setComment(e.currentTarget.value)}
          error={errs.fieldError("comment")}
          data-testid="decision-comment"
        />
        {delegating &&
          (mayList ? (
            <NativeSelect
              label="Delegate to"
              value={to}
              onChange={(e) => setTo(e.currentTarget.value)}
              data={[
                { value: "", label: users.isPending ? "Loading…" : "— choose a person —" },
                ...candidates.map((u) => ({ value: u.id, label: `${u.name || u.email} (${u.role})` })),
              ]}
              error={errs.fieldError("to")}
              data-testid="delegate-to"
            />
          ) : (
            <TextInput
              label="Delegate to (user id)"
              description="The id of an active user, usr_…"
              value={to}
              onChange={(e) => setTo(e.currentTarget.value)}
              error={errs.fieldError("to")}
              data-testid="delegate-to"
            />
          ))}
        <Group gap="xs">
          {!delegating ? (
            <>
              <Button color="teal.9" onClick={() => doDecide("approve")} loading={decide.isPending && decide.variables?.decision === "approve"} disabled={busy} data-testid="approve">
                Approve
              </Button>
              <Button color="red.9" onClick={() => doDecide("reject")} loading={decide.isPending && decide.variables?.decision === "reject"} disabled={busy} data-testid="reject">
                Reject
              </Button>
              <Button variant="default" onClick={() => setDelegating(true)} disabled={busy} data-testid="delegate">
                Delegate…
              </Button>
            </>
          ) : (
            <>
              <Button onClick={doDelegate} loading={delegate.isPending} disabled={!to.trim()} data-testid="delegate-submit">
                Delegate
              </Button>
              <Button variant="default" onClick={() => setDelegating(false)}>
                Cancel
              </Button>
            </>
          )}
        </Group>
      </Stack>
    </form>
  );
}
