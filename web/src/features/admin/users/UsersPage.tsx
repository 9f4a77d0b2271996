// Users and roles: the list (searched and filtered by the server: GET
// /users?q=, the start of an address or a name, and ?role=, one role's),
// a new account, a role change and disabling or enabling an account. Each
// change is sent with the version shown (If-Match), so a change made
// meanwhile by someone else is refused (412) rather than overwritten.
import { useState, type FormEvent } from "react";
import {
  Badge,
  Button,
  Collapse,
  Group,
  Paper,
  PasswordInput,
  Select,
  SimpleGrid,
  Stack,
  Table,
  Text,
  TextInput,
} from "@mantine/core";
import { useDebouncedValue } from "@mantine/hooks";
import { useMutation, useQueryClient } from "@tanstack/react-query";
import { api, idempotencyKey, unwrap } from "../../../api/client";
import { pageQuery, useCursorList } from "../../../api/lists";
import type { components } from "../../../api/schema";
import { useMe } from "../../../api/me";
import { CursorTable } from "../../../ui/CursorTable";
import { Page } from "../../../ui/Page";
import { FormAlert, notifyOk, useFormErrors } from "../../../ui/errors";
import { dateTime } from "../../../ui/format";

type User = components["schemas"]["User"];
type Role = User["role"];
const roles: Role[] = ["customer", "staff", "approver", "admin"];

function CreateUser({ onDone }: { onDone(): void }) {
  const qc = useQueryClient();
  const errs = useFormErrors();
  const [form, setForm] = useState({ email: "", name: "", password: "", role: "staff" as Role });
  const [key] = useState(idempotencyKey);
  const create = useMutation({
    meta: { form: true },
    mutationFn: () =>
      unwrap(
        api.POST("/api/v1/users", {
          params: { header: { "Idempotency-Key": key } },
          body: { email: form.email, password: form.password, role: form.role, ...(form.name ? { name: form.name } : {}) },
        }),
      ),
    onSuccess: (u) => {
      notifyOk(`${u.email} can sign in now, as ${u.role}.`, "Account created");
      void qc.invalidateQueries({ queryKey: ["admin-users"] });
      onDone();
    },
    onError: (e) => errs.setError(e),
  });
  const submit = (e: FormEvent) => {
    e.preventDefault();
    errs.clear();
    create.mutate();
  };
  const set = (k: keyof typeof form) => (v: string) => setForm((f) => ({ ...f, [k]: v }));
  return (
    <Paper withBorder p="md">
      <form onSubmit={submit} noValidate aria-label="New account">
        <Stack>
          <FormAlert error={errs.error} fields={["email", "name", "password", "role"]} />
          <SimpleGrid cols={{ base: 1, sm: 2 }}>
            <TextInput label="E-mail" type="email" required value={form.email} onChange={(e) => set("email")(e.currentTarget.value)} error={errs.fieldError("email")} autoComplete="off" />
            <TextInput label="Name" value={form.name} onChange={(e) => set("name")(e.currentTarget.value)} error={errs.fieldError("name")} autoComplete="off" />
            <PasswordInput label="Initial password" description="8 to 128 characters; tell it to the person" required value={form.password} onChange={(e) => set("password")(e.currentTarget.value)} error={errs.fieldError("password")} autoComplete="new-password" />
            <Select label="Role" data={roles} value={form.role} onChange={(v) => v && set("role")(v)} allowDeselect={false} error={errs.fieldError("role")} />
          </SimpleGrid>
          <Group>
            <Button type="submit" loading={create.isPending} data-testid="create-user">
              Create the account
            </Button>
            <Button variant="default" onClick={onDone}>
              Cancel
            </Button>
          </Group>
        </Stack>
      </form>
    </Paper>
  );
}

/** GET /users, newest first; with q, only those whose e-mail or name starts with it (any case); with role, that role's. */
function useUsers(q: string, role: Role | null) {
  return useCursorList<User>({
    queryKey: ["admin-users", q, role],
    fetchPage: (cursor) => unwrap(api.GET("/api/v1/users", { params: { query: pageQuery(100, cursor, { q, role }) } })),
  });
}

function UserRow({ u, self }: { u: User; self: boolean }) {
  const qc = useQueryClient();
  const change = useMutation({
    mutationFn: (body: { role?: Role; status?: User["status"] }) =>
      unwrap(
        api.PATCH("/api/v1/users/{id}", {
          params: { path: { id: u.id }, header: { "If-Match": `"${u.version}"` } },
          body,
        }),
      ),
    onSuccess: (nu) => {
      notifyOk(`${nu.email}: ${nu.role}, ${nu.status}.`);
      void qc.invalidateQueries({ queryKey: ["admin-users"] });
    },
    onError: () => void qc.invalidateQueries({ queryKey: ["admin-users"] }),
  });
  const who = u.name || u.email;
  return (
    <Table.Tr data-testid={`user-${u.email}`}>
      <Table.Td>
        <Text size="sm" fw={500}>
          {u.name || "—"}
        </Text>
        <Text size="xs">{u.email}</Text>
      </Table.Td>
      <Table.Td>
        <Select
          aria-label={`Role of ${who}`}
          data={roles}
          value={u.role}
          allowDeselect={false}
          disabled={self || change.isPending}
          onChange={(v) => v && v !== u.role && change.mutate({ role: v as Role })}
          w={140}
          size="xs"
        />
      </Table.Td>
      <Table.Td>
        <Badge color={u.status === "active" ? "teal.9" : "gray"} variant={u.status === "active" ? "filled" : "light"}>
          {u.status}
        </Badge>
      </Table.Td>
      <Table.Td>{u.mfa_enabled ? "on" : "off"}</Table.Td>
      <Table.Td>{dateTime(u.created_at)}</Table.Td>
      <Table.Td>
        <Button
          size="compact-sm"
          variant={u.status === "active" ? "light" : "filled"}
          color={u.status === "active" ? "red" : "teal"}
          disabled={self}
          loading={change.isPending}
          onClick={() => change.mutate({ status: u.status === "active" ? "disabled" : "active" })}
          aria-label={`${u.status === "active" ? "Disable" : "Enable"} ${who}`}
        >
          {u.status === "active" ? "Disable" : "Enable"}
        </Button>
      </Table.Td>
    </Table.Tr>
  );
}

export default function UsersPage() {
  const me = useMe();
  const [q, setQ] = useState("");
  // one request per pause in typing, not per key
  const [needle] = useDebouncedValue(q.trim().slice(0, 100), 250);
  const [creating, setCreating] = useState(false);
  const [role, setRole] = useState<Role | null>(null);
  const users = useUsers(needle, role);
  return (
    <Page
      title="Users and roles"
      actions={
        <Button onClick={() => setCreating((c) => !c)} aria-expanded={creating} data-testid="new-user">
          New account
        </Button>
      }
    >
      <Collapse in={creating}>{creating && <CreateUser onDone={() => setCreating(false)} />}</Collapse>
      <Group align="end" wrap="wrap">
        <TextInput
          label="Search"
          description="the start of an e-mail address or a name"
          value={q}
          onChange={(e) => setQ(e.currentTarget.value)}
          w={280}
          type="search"
          maxLength={100}
          data-testid="user-search"
        />
        <Select
          label="Role"
          placeholder="Any role"
          data={roles}
          value={role}
          onChange={(v) => setRole(v as Role | null)}
          clearable
          w={180}
          data-testid="user-role"
        />
      </Group>
      <CursorTable list={users} what="the users" minWidth={760} testId="user-list"
        headers={["User", "Role", "Status", "MFA", "Created", "Account"]}
        rowKey={(u) => `${u.id}:${u.version}`}
        row={(u) => <UserRow u={u} self={u.id === me.user?.id} />}
        empty="No user matches."
        more="Load more users"
      />
    </Page>
  );
}
