// Who works a request: assign it to oneself, to a person (staff and admins
// may list users) or to a role's queue (POST …/assignment).
import { useState } from "react";
import { Button, Group, NativeSelect, Paper, Stack, Text } from "@mantine/core";
import { useMe } from "../../api/me";
import { FormAlert, useFormErrors } from "../../ui/errors";
import { memoOn, useNameOf } from "../portal/RequestParts";
import { assigneeOf, useRequestWrites, useUsers, type ServiceRequest } from "../portal/requestsApi";

const roles = ["staff", "approver", "admin"] as const;

export const AssignmentPanel = memoOn(function AssignmentPanel({ request }: { request: ServiceRequest }) {
  const me = useMe();
  const nameOf = useNameOf(request.created_by);
  const { assign } = useRequestWrites(request.id);
  const errs = useFormErrors();
  const mayList = me.user?.role === "staff" || me.user?.role === "admin";
  const users = useUsers(mayList);
  const [user, setUser] = useState("");
  const [role, setRole] = useState<(typeof roles)[number]>("staff");
  const a = assigneeOf(request);
  const now = a?.user ? nameOf(a.user) : a?.role ? `the ${a.role} queue` : "nobody";
  const go = (to: { user_id: string } | { role: (typeof roles)[number] }) => {
    errs.clear();
    assign.mutate(to, { onSuccess: () => setUser(""), onError: (x) => errs.setError(x) });
  };
  const people = (users.data ?? []).filter((u) => u.status === "active" && u.role !== "customer");
  return (
    <Paper withBorder p="md" data-testid="assignment">
      <Stack gap="xs">
        <Text component="h2" fw={600} size="md">
          Assignment
        </Text>
        <Text size="sm">
          Assigned to <strong data-testid="assignee">{now}</strong>
        </Text>
        <FormAlert error={errs.error} fields={["user_id", "role"]} />
        {me.user && a?.user !== me.user.id && (
          <Group>
            <Button size="sm" onClick={() => go({ user_id: me.user!.id })} loading={assign.isPending} data-testid="assign-me">
              Assign to me
            </Button>
          </Group>
        )}
        {mayList && (
          <Group align="flex-end" gap="xs" wrap="wrap">
            <NativeSelect
              label="Person"
              value={user}
              onChange={(e) => setUser(e.currentTarget.value)}
              data={[{ value: "", label: "— choose —" }, ...people.map((u) => ({ value: u.id, label: `${u.name || u.email} (${u.role})` }))]}
              error={errs.fieldError("user_id")}
              miw={200}
            />
            <Button size="sm" variant="default" disabled={!user} onClick={() => go({ user_id: user })}>
              Assign
            </Button>
          </Group>
        )}
        <Group align="flex-end" gap="xs" wrap="wrap">
          <NativeSelect
            label="Queue"
            value={role}
            onChange={(e) => setRole(e.currentTarget.value as (typeof roles)[number])}
            data={roles.map((r) => ({ value: r, label: `${r} queue` }))}
            error={errs.fieldError("role")}
          />
          <Button size="sm" variant="default" onClick={() => go({ role })}>
            Assign to queue
          </Button>
        </Group>
      </Stack>
    </Paper>
  );
}, ["id", "created_by", "assignee"]);
