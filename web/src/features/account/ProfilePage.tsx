// The profile: name (PATCH /users/me with If-Match), e-mail and role shown.
import { useEffect, useState, type FormEvent } from "react";
import { Anchor, Button, Paper, Stack, Text, TextInput } from "@mantine/core";
import { useMutation, useQueryClient } from "@tanstack/react-query";
import { Link } from "react-router-dom";
import { api, unwrap } from "../../api/client";
import { meKey, useMe } from "../../api/me";
import { updateSessionUser } from "../../api/session";
import { Page } from "../../ui/Page";
import { FormAlert, notifyOk, useFormErrors } from "../../ui/errors";

export default function ProfilePage() {
  const me = useMe();
  const qc = useQueryClient();
  const [name, setName] = useState(me.user?.name ?? "");
  const errs = useFormErrors();
  useEffect(() => setName(me.user?.name ?? ""), [me.user?.name]);
  const save = useMutation({
    meta: { form: true },
    mutationFn: (n: string) =>
      unwrap(
        api.PATCH("/api/v1/users/me", {
          params: { header: { "If-Match": `"${me.user?.version ?? 0}"` } },
          body: { name: n },
        }),
      ),
    onSuccess: (user) => {
      qc.setQueryData(meKey, user);
      updateSessionUser(user);
      notifyOk("Your profile is saved.");
    },
    onError: (e) => {
      errs.setError(e);
      void qc.invalidateQueries({ queryKey: meKey }); // a 412 means it changed elsewhere
    },
  });
  if (!me.user) return null;
  const submit = (e: FormEvent) => {
    e.preventDefault();
    errs.clear();
    save.mutate(name.trim());
  };
  return (
    <Page title="Profile">
      <Paper withBorder p="lg" maw={480}>
        <form onSubmit={submit} noValidate aria-label="Profile">
          <Stack>
            <FormAlert error={errs.error} fields={["name"]} />
            <TextInput label="E-mail" value={me.user.email} readOnly description="Your sign-in address" />
            <TextInput
              label="Name"
              name="name"
              autoComplete="name"
              value={name}
              onChange={(e) => setName(e.currentTarget.value)}
              error={errs.fieldError("name")}
            />
            <Text size="sm">
              Role: <strong>{me.user.role}</strong> · Two-factor authentication:{" "}
              <strong data-testid="mfa-state">{me.user.mfa_enabled ? "on" : "off"}</strong>
            </Text>
            <Button type="submit" loading={save.isPending} w="fit-content">
              Save
            </Button>
          </Stack>
        </form>
      </Paper>
      <Anchor component={Link} to="/account/security">
        Password and two-factor authentication
      </Anchor>
    </Page>
  );
}
