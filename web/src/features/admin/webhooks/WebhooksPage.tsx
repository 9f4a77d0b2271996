// Webhook subscriptions: list, create (the secret is shown once, here),
// edit, rotate the secret, delete; each subscription's delivery log, live
// from the topic webhook_deliveries:<id> (each recorded attempt), with
// re-sending of a delivered or dead delivery.
import { useState, type FormEvent } from "react";
import {
  Alert,
  Anchor,
  Badge,
  Button,
  Code,
  CopyButton,
  Group,
  Loader,
  Modal,
  Paper,
  Select,
  Stack,
  Switch,
  Text,
  TextInput,
  Title,
} from "@mantine/core";
import { useMutation, useQuery, useQueryClient } from "@tanstack/react-query";
import { api, idempotencyKey, unwrap } from "../../../api/client";
import { pageQuery, useCursorList } from "../../../api/lists";
import type { paths } from "../../../api/schema";
import { useLiveQuery } from "../../../live/hooks";
import { CursorTable } from "../../../ui/CursorTable";
import { Page } from "../../../ui/Page";
import { FormAlert, QueryError, notifyOk, useFormErrors } from "../../../ui/errors";
import { dateTime } from "../../../ui/format";

interface Subscription {
  id: string;
  url: string;
  events: string[];
  description: string;
  active: boolean;
  version: number;
  created_at: string;
  updated_at: string;
  secret?: string;
}

const words = (s: string) => s.split(/[\s,]+/).filter(Boolean);

function SubscriptionForm({ sub, onDone }: { sub: Subscription | null; onDone(created?: Subscription): void }) {
  const qc = useQueryClient();
  const errs = useFormErrors();
  const [key] = useState(idempotencyKey);
  const [url, setUrl] = useState(sub?.url ?? "https://");
  const [events, setEvents] = useState(sub?.events.join(" ") ?? "order.*");
  const [description, setDescription] = useState(sub?.description ?? "");
  const [active, setActive] = useState(sub?.active ?? true);
  const save = useMutation({
    meta: { form: true },
    mutationFn: async (): Promise<Subscription> => {
      const body = { url, events: words(events), description, active };
      if (!sub) return unwrap(api.POST("/api/v1/webhooks", { params: { header: { "Idempotency-Key": key } }, body }));
      return unwrap(
        api.PATCH("/api/v1/webhooks/{id}", { params: { path: { id: sub.id }, header: { "If-Match": `"${sub.version}"` } }, body }),
      );
    },
    onSuccess: (s) => {
      void qc.invalidateQueries({ queryKey: ["webhooks"] });
      if (sub) notifyOk(`${s.url} is saved.`);
      onDone(sub ? undefined : s);
    },
    onError: (e) => errs.setError(e),
  });
  const submit = (e: FormEvent) => {
    e.preventDefault();
    errs.clear();
    save.mutate();
  };
  return (
    <form onSubmit={submit} noValidate aria-label={sub ? "Edit the subscription" : "New subscription"}>
      <Stack>
        <FormAlert error={errs.error} fields={["url", "events", "description", "active"]} />
        <TextInput label="URL" required type="url" value={url} onChange={(e) => setUrl(e.currentTarget.value)} error={errs.fieldError("url")} />
        <TextInput
          label="Events"
          description="Patterns separated by spaces or commas; * matches any run of characters (order.*, request.approval_*, *)"
          required
          value={events}
          onChange={(e) => setEvents(e.currentTarget.value)}
          error={errs.fieldError("events")}
        />
        <TextInput label="Description" value={description} onChange={(e) => setDescription(e.currentTarget.value)} error={errs.fieldError("description")} />
        <Switch label="Active" checked={active} onChange={(e) => setActive(e.currentTarget.checked)} />
        <Group>
          <Button type="submit" loading={save.isPending} data-testid="save-webhook">
            {sub ? "Save changes" : "Create the subscription"}
          </Button>
          <Button variant="default" onClick={() => onDone()}>
            Cancel
          </Button>
        </Group>
      </Stack>
    </form>
  );
}

function SecretModal({ secret, onClose }: { secret: string | null; onClose(): void }) {
  return (
    <Modal opened={!!secret} onClose={onClose} title="The signing secret" closeOnClickOutside={false}>
      <Stack>
        <Alert color="orange">This is the only time the secret is shown. Copy it into the receiver now.</Alert>
        <Code block data-testid="webhook-secret">
          {secret}
        </Code>
        <Group>
          <CopyButton value={secret ?? ""}>
            {({ copied, copy }) => (
              <Button onClick={copy} variant="light">
                {copied ? "Copied" : "Copy the secret"}
              </Button>
            )}
          </CopyButton>
          <Button onClick={onClose}>I have saved it</Button>
        </Group>
      </Stack>
    </Modal>
  );
}

type Delivery = paths["/api/v1/webhooks/{id}/deliveries"]["get"]["responses"]["200"]["content"]["application/json"]["data"][number];

function DeliveryStatus({ status }: { status: Delivery["status"] }) {
  return (
    <Badge color={status === "delivered" ? "teal.9" : status === "dead" ? "red" : "yellow"} variant={status === "delivered" ? "filled" : "light"}>
      {status}
    </Badge>
  );
}

function LastAnswer({ d }: { d: Delivery }) {
  return (
    <Text size="sm">
      {d.last_status_code ? `HTTP ${d.last_status_code}` : ""}
      {d.last_error ? ` ${d.last_error}` : ""}
      {d.status === "pending" && d.next_attempt_at ? ` next try ${dateTime(d.next_attempt_at)}` : ""}
    </Text>
  );
}

/** The delivery log, newest first, kept current from the topic webhook_deliveries:<id>: each recorded attempt refetches it. */
function Deliveries({ sub }: { sub: Subscription }) {
  const qc = useQueryClient();
  const [status, setStatus] = useState<string | null>(null);
  const list = useCursorList<Delivery>({
    queryKey: ["webhooks", sub.id, "deliveries", status],
    fetchPage: (cursor) =>
      unwrap(api.GET("/api/v1/webhooks/{id}/deliveries", { params: { path: { id: sub.id }, query: pageQuery(50, cursor, { status }) } })),
  });
  useLiveQuery(`webhook_deliveries:${sub.id}`, ["webhooks", sub.id, "deliveries"]);
  const resend = useMutation({
    mutationFn: (id: string) => unwrap(api.POST("/api/v1/webhooks/deliveries/{id}/resend", { params: { path: { id } } })),
    onSuccess: () => {
      notifyOk("The delivery is queued again.");
      void qc.invalidateQueries({ queryKey: ["webhooks", sub.id, "deliveries"] });
    },
  });
  return (
    <Stack gap="xs">
      <Group justify="space-between" align="end">
        <Title order={3} size="h5">
          Delivery log
        </Title>
        <Select label="Status" placeholder="Any status" data={["pending", "delivered", "dead"]} value={status} onChange={setStatus} clearable w={160} size="xs" />
      </Group>
      <CursorTable list={list} what="the deliveries" minWidth={640} testId="webhook-deliveries"
        columns={[
          {
            header: "Event",
            cell: (d) => (
              <>
                <Text size="sm">{d.event_type}</Text>
                <Text size="xs">{d.event_id}</Text>
              </>
            ),
          },
          { header: "Status", cell: (d) => <DeliveryStatus status={d.status} /> },
          { header: "Attempts", cell: (d) => d.attempts },
          { header: "Last answer", cell: (d) => <LastAnswer d={d} /> },
          { header: "Updated", cell: (d) => (d.updated_at ? dateTime(d.updated_at) : "") },
          {
            header: "Resend",
            cell: (d) => (
              <Button size="compact-sm" variant="light" disabled={d.status === "pending"} onClick={() => resend.mutate(d.id)} aria-label={`Resend delivery ${d.id}`}>
                Resend
              </Button>
            ),
          },
        ]}
        rowProps={(d) => ({ "data-testid": "webhook-delivery", "data-id": d.id, "data-status": d.status })}
        rowKey={(d) => d.id}
        empty="No delivery yet."
        more="Older deliveries"
      />
    </Stack>
  );
}

function SubscriptionDetail({ id, onSecret, onGone }: { id: string; onSecret(s: string): void; onGone(): void }) {
  const qc = useQueryClient();
  const [editing, setEditing] = useState(false);
  const sub = useQuery({ queryKey: ["webhooks", id], queryFn: () => unwrap(api.GET("/api/v1/webhooks/{id}", { params: { path: { id } } })) });
  const rotate = useMutation({
    mutationFn: () => unwrap(api.POST("/api/v1/webhooks/{id}/secret", { params: { path: { id } } })),
    onSuccess: (s) => {
      void qc.invalidateQueries({ queryKey: ["webhooks", id] });
      onSecret(s.secret);
    },
  });
  const remove = useMutation({
    mutationFn: () => unwrap(api.DELETE("/api/v1/webhooks/{id}", { params: { path: { id } } })),
    onSuccess: () => {
      notifyOk("The subscription and its delivery log are deleted.");
      void qc.invalidateQueries({ queryKey: ["webhooks"] });
      onGone();
    },
  });
  if (sub.isPending) return <Loader aria-label="Loading the subscription" />;
  if (sub.isError) return <QueryError error={sub.error} what="the subscription" />;
  const s = sub.data;
  return (
    <Paper withBorder p="md">
      <Stack>
        <Group justify="space-between" wrap="wrap">
          <Title order={2} size="h4" style={{ wordBreak: "break-all" }}>
            {s.url}
          </Title>
          <Group gap="xs">
            <Button size="xs" variant="light" onClick={() => setEditing((e) => !e)} aria-expanded={editing}>
              Edit
            </Button>
            <Button size="xs" variant="light" onClick={() => rotate.mutate()} loading={rotate.isPending}>
              New secret
            </Button>
            <Button
              size="xs"
              variant="light"
              color="red"
              loading={remove.isPending}
              onClick={() => window.confirm(`Delete the subscription to ${s.url} and its delivery log?`) && remove.mutate()}
            >
              Delete
            </Button>
          </Group>
        </Group>
        {editing ? (
          <SubscriptionForm key={s.version} sub={s} onDone={() => setEditing(false)} />
        ) : (
          <Text size="sm">
            {s.active ? "Active" : "Paused"} · events {s.events.join(", ")}
            {s.description ? ` · ${s.description}` : ""}
          </Text>
        )}
        <Deliveries sub={s} />
      </Stack>
    </Paper>
  );
}

export default function WebhooksPage() {
  const [creating, setCreating] = useState(false);
  const [selected, setSelected] = useState<string | null>(null);
  const [secret, setSecret] = useState<string | null>(null);
  const subs = useCursorList<Subscription>({
    queryKey: ["webhooks", "list"],
    fetchPage: (cursor) => unwrap(api.GET("/api/v1/webhooks", { params: { query: pageQuery(100, cursor) } })),
  });
  return (
    <Page
      title="Webhooks"
      actions={
        <Button onClick={() => setCreating(true)} data-testid="new-webhook">
          New subscription
        </Button>
      }
    >
      <Modal opened={creating} onClose={() => setCreating(false)} title="New subscription" size="lg">
        {creating && (
          <SubscriptionForm
            sub={null}
            onDone={(created) => {
              setCreating(false);
              if (created) {
                setSelected(created.id);
                if (created.secret) setSecret(created.secret);
              }
            }}
          />
        )}
      </Modal>
      <SecretModal secret={secret} onClose={() => setSecret(null)} />
      <CursorTable list={subs} what="the subscriptions" minWidth={600} testId="webhook-list"
        columns={[
          {
            header: "URL",
            cell: (s) => (
              <Anchor component="button" type="button" onClick={() => setSelected(s.id)} style={{ wordBreak: "break-all", textAlign: "left" }}>
                {s.url}
              </Anchor>
            ),
          },
          { header: "Events", cell: (s) => s.events.join(", ") },
          { header: "State", cell: (s) => (s.active ? "active" : "paused") },
          { header: "Created", cell: (s) => dateTime(s.created_at) },
        ]}
        rowProps={(s) => ({ bg: s.id === selected ? "var(--mantine-color-blue-light)" : undefined })}
        rowKey={(s) => s.id}
        empty="No subscription yet. A subscription receives the events it names as signed POSTs."
      />
      {selected && <SubscriptionDetail key={selected} id={selected} onSecret={setSecret} onGone={() => setSelected(null)} />}
    </Page>
  );
}
