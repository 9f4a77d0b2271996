// Mail: the templates (edit, reset to the shipped default, preview with
// sample variables) and the delivery log, which is the dev mailbox when no
// SMTP server is set (messages `kept`).
import { useState, type FormEvent } from "react";
import {
  Alert,
  Anchor,
  Badge,
  Box,
  Button,
  Grid,
  Group,
  Loader,
  Modal,
  NavLink,
  Paper,
  Select,
  Stack,
  Tabs,
  Text,
  TextInput,
  Title,
} from "@mantine/core";
import { AutoTextarea } from "../../../ui/AutoTextarea";
import { useMutation, useQuery, useQueryClient } from "@tanstack/react-query";
import { api, unwrap } from "../../../api/client";
import { pageQuery, useCursorList } from "../../../api/lists";
import { CursorTable } from "../../../ui/CursorTable";
import { Page } from "../../../ui/Page";
import { FormAlert, QueryError, notifyOk, useFormErrors } from "../../../ui/errors";
import { dateTime } from "../../../ui/format";

interface Template {
  kind: string;
  subject: string;
  text: string;
  html: string;
  customized: boolean;
  version: number;
}

/** An e-mail's HTML, shown in a sandbox (no script, no same origin). */
function HtmlPreview({ html, title }: { html: string; title: string }) {
  return <iframe title={title} sandbox="" srcDoc={html} style={{ width: "100%", minHeight: 260, border: "1px solid #dee2e6", borderRadius: 6, background: "#fff" }} />;
}

function TemplateEditor({ t }: { t: Template }) {
  const qc = useQueryClient();
  const errs = useFormErrors();
  const [subject, setSubject] = useState(t.subject);
  const [text, setText] = useState(t.text);
  const [html, setHtml] = useState(t.html);
  const [vars, setVars] = useState(
    '{"to": {"name": "Ada"}, "message": "A sample message", "request": {"id": "srq_1", "title": "New laptop", "type": "purchase", "state": "review"}}',
  );
  const [varsError, setVarsError] = useState<string | null>(null);
  const refresh = () => void qc.invalidateQueries({ queryKey: ["mail-templates"] });
  const save = useMutation({
    meta: { form: true },
    mutationFn: () =>
      unwrap(
        api.PUT("/api/v1/mail/templates/{kind}", {
          params: { path: { kind: t.kind }, header: { "If-Match": `"${t.version}"` } },
          body: { subject, text, html },
        }),
      ),
    onSuccess: () => {
      notifyOk(`${t.kind}: saved.`);
      refresh();
    },
    onError: (e) => errs.setError(e),
  });
  const reset = useMutation({
    mutationFn: () => unwrap(api.DELETE("/api/v1/mail/templates/{kind}", { params: { path: { kind: t.kind } } })),
    onSuccess: () => {
      notifyOk(`${t.kind}: back to the shipped default.`);
      refresh();
    },
  });
  const preview = useMutation({
    meta: { form: true },
    mutationFn: (v: Record<string, unknown>) =>
      unwrap(api.POST("/api/v1/mail/templates/{kind}/preview", { params: { path: { kind: t.kind } }, body: { vars: v as never, subject, text, html } })),
    onError: (e) => errs.setError(e),
  });
  const submit = (e: FormEvent) => {
    e.preventDefault();
    errs.clear();
    save.mutate();
  };
  const runPreview = () => {
    errs.clear();
    try {
      const v = JSON.parse(vars) as unknown;
      if (!v || typeof v !== "object" || Array.isArray(v)) throw new Error("give a JSON object");
      setVarsError(null);
      preview.mutate(v as Record<string, unknown>);
    } catch (e) {
      setVarsError(`Not a JSON object: ${e instanceof Error ? e.message : String(e)}`);
    }
  };
  return (
    <form onSubmit={submit} noValidate aria-label={`Template ${t.kind}`}>
      <Stack>
        <Group justify="space-between">
          <Title order={2} size="h4">
            {t.kind}
          </Title>
          <Badge variant="light" color={t.customized ? "blue" : "gray"}>
            {t.customized ? `customized, version ${t.version}` : "shipped default"}
          </Badge>
        </Group>
        <FormAlert error={errs.error} fields={["subject", "text", "html", "vars"]} />
        <TextInput label="Subject" required value={subject} onChange={(e) => setSubject(e.currentTarget.value)} error={errs.fieldError("subject")} />
        <AutoTextarea label="Text body" required minRows={4} maxRows={14} value={text} onChange={(e) => setText(e.currentTarget.value)} error={errs.fieldError("text")} styles={{ input: { fontFamily: "monospace" } }} />
        <AutoTextarea label="HTML body" required minRows={4} maxRows={14} value={html} onChange={(e) => setHtml(e.currentTarget.value)} error={errs.fieldError("html")} styles={{ input: { fontFamily: "monospace" } }} />
        <Group>
          <Button type="submit" loading={save.isPending} data-testid="save-template">
            Save
          </Button>
          <Button variant="default" onClick={() => reset.mutate()} loading={reset.isPending} disabled={!t.customized}>
            Back to the default
          </Button>
        </Group>
        <AutoTextarea
          label="Sample variables (JSON) for the preview"
          minRows={2}
          value={vars}
          onChange={(e) => setVars(e.currentTarget.value)}
          error={varsError ?? errs.fieldError("vars")}
          styles={{ input: { fontFamily: "monospace" } }}
        />
        <Group>
          <Button variant="light" onClick={runPreview} loading={preview.isPending} data-testid="preview-template">
            Preview
          </Button>
        </Group>
        {preview.data && (
          <Paper withBorder p="sm" data-testid="template-preview">
            <Text fw={600}>Subject: {preview.data.subject}</Text>
            <Box component="pre" style={{ whiteSpace: "pre-wrap", fontSize: 13 }}>
              {preview.data.text}
            </Box>
            <HtmlPreview html={preview.data.html} title={`HTML preview of ${t.kind}`} />
          </Paper>
        )}
      </Stack>
    </form>
  );
}

function Templates() {
  const list = useQuery({ queryKey: ["mail-templates"], queryFn: () => unwrap(api.GET("/api/v1/mail/templates")) });
  const [kind, setKind] = useState<string | null>(null);
  if (list.isPending) return <Loader aria-label="Loading the templates" />;
  if (list.isError) return <QueryError error={list.error} what="the templates" />;
  const all = list.data.data;
  const current = all.find((t) => t.kind === (kind ?? all[0]?.kind));
  return (
    <Grid>
      <Grid.Col span={{ base: 12, md: 4 }}>
        <Paper withBorder p={4} component="nav" aria-label="Templates">
          {all.map((t) => (
            <NavLink
              key={t.kind}
              component="button"
              label={`${t.kind}${t.customized ? " (customized)" : ""}`}
              active={t.kind === current?.kind}
              aria-current={t.kind === current?.kind ? "true" : undefined}
              onClick={() => setKind(t.kind)}
            />
          ))}
        </Paper>
      </Grid.Col>
      <Grid.Col span={{ base: 12, md: 8 }}>{current && <TemplateEditor key={`${current.kind}:${current.version}:${current.customized}`} t={current} />}</Grid.Col>
    </Grid>
  );
}

function MessageModal({ id, onClose }: { id: string | null; onClose(): void }) {
  const qc = useQueryClient();
  const msg = useQuery({
    queryKey: ["mail-message", id],
    enabled: !!id,
    queryFn: () => unwrap(api.GET("/api/v1/mail/messages/{id}", { params: { path: { id: id! } } })),
  });
  const resend = useMutation({
    mutationFn: () => unwrap(api.POST("/api/v1/mail/messages/{id}/resend", { params: { path: { id: id! } } })),
    onSuccess: () => {
      notifyOk("The message is queued again.");
      void qc.invalidateQueries({ queryKey: ["mail-messages"] });
      void qc.invalidateQueries({ queryKey: ["mail-message", id] });
    },
  });
  const m = msg.data;
  return (
    <Modal opened={!!id} onClose={onClose} title={m ? m.subject : "Message"} size="xl">
      {msg.isPending ? (
        <Loader aria-label="Loading the message" />
      ) : msg.isError ? (
        <QueryError error={msg.error} what="the message" />
      ) : m ? (
        <Stack>
          <Text size="sm">
            To {m.to_name ? `${m.to_name} <${m.to}>` : m.to} · {m.kind} · {m.status} after {m.attempts} attempt{m.attempts === 1 ? "" : "s"} ·{" "}
            {dateTime(m.created_at)}
          </Text>
          {m.last_error && <Alert color="red">{m.last_error}</Alert>}
          <Box component="pre" style={{ whiteSpace: "pre-wrap", fontSize: 13 }}>
            {m.text}
          </Box>
          {m.html && <HtmlPreview html={m.html} title={`HTML body of ${m.subject}`} />}
          <Group>
            <Button variant="light" onClick={() => resend.mutate()} loading={resend.isPending} disabled={m.status === "pending"}>
              Send again
            </Button>
          </Group>
        </Stack>
      ) : null}
    </Modal>
  );
}

const mailColors: Record<string, string> = { sent: "teal.9", dead: "red", kept: "blue" };

function MailStatus({ status }: { status: string }) {
  return (
    <Badge variant={status === "sent" ? "filled" : "light"} color={mailColors[status] ?? "yellow"}>
      {status}
    </Badge>
  );
}

function Messages() {
  const [status, setStatus] = useState<string | null>(null);
  const [to, setTo] = useState("");
  const [open, setOpen] = useState<string | null>(null);
  const list = useCursorList({
    queryKey: ["mail-messages", status, to.trim()],
    fetchPage: (cursor) =>
      unwrap(api.GET("/api/v1/mail/messages", { params: { query: pageQuery(50, cursor, { status, to: to.trim() }) } })),
  });
  return (
    <Stack>
      <Text size="sm">Without an SMTP server (smtp_url) messages are kept here, in the dev mailbox, instead of being sent.</Text>
      <Group align="end" wrap="wrap">
        <Select label="Status" placeholder="Any status" data={["pending", "sent", "dead", "kept"]} value={status} onChange={setStatus} clearable w={160} />
        <TextInput label="Recipient" placeholder="someone@example.com" value={to} onChange={(e) => setTo(e.currentTarget.value)} w={260} />
      </Group>
      <CursorTable list={list} what="the messages" minWidth={640} testId="mail-messages"
        columns={[
          {
            header: "Subject",
            cell: (m) => (
              <>
                <Anchor component="button" type="button" onClick={() => setOpen(m.id)} style={{ textAlign: "left" }}>
                  {m.subject}
                </Anchor>
                <Text size="xs">{m.kind}</Text>
              </>
            ),
          },
          { header: "To", cell: (m) => m.to },
          { header: "Status", cell: (m) => <MailStatus status={m.status} /> },
          { header: "Created", cell: (m) => dateTime(m.created_at) },
        ]}
        rowKey={(m) => m.id}
        empty="No message."
        more="Older messages"
      />
      <MessageModal id={open} onClose={() => setOpen(null)} />
    </Stack>
  );
}

export default function MailPage() {
  return (
    <Page title="Mail and notification templates">
      <Tabs defaultValue="templates" keepMounted={false}>
        <Tabs.List>
          <Tabs.Tab value="templates">Templates</Tabs.Tab>
          <Tabs.Tab value="messages">Delivery log and dev mailbox</Tabs.Tab>
        </Tabs.List>
        <Tabs.Panel value="templates" pt="md">
          <Templates />
        </Tabs.Panel>
        <Tabs.Panel value="messages" pt="md">
          <Messages />
        </Tabs.Panel>
      </Tabs>
    </Page>
  );
}
