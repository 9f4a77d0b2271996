// Password change (the current password is required) and TOTP MFA:
// enrol (QR code of the otpauth URI + the secret to type), verify with a
// first code, disable with password + code.
import { useEffect, useState, type FormEvent } from "react";
import { Alert, Button, Code, Image, Paper, PasswordInput, Stack, Text, TextInput, Title } from "@mantine/core";
import { useMutation, useQueryClient } from "@tanstack/react-query";
import QRCode from "qrcode";
import { api, unwrap } from "../../api/client";
import { meKey, useMe } from "../../api/me";
import { Page } from "../../ui/Page";
import { FormAlert, notifyOk, useFormErrors } from "../../ui/errors";

const codeOnField = { "invalid-code": "code", "code-replayed": "code" };
const passwordOnField = { "invalid-credentials": "current_password" };
const disableOnField = { ...codeOnField, "invalid-credentials": "password" };

function PasswordForm() {
  const [current, setCurrent] = useState("");
  const [next, setNext] = useState("");
  const errs = useFormErrors(passwordOnField);
  const change = useMutation({
    meta: { form: true },
    mutationFn: () =>
      unwrap(api.POST("/api/v1/auth/password", { body: { current_password: current, new_password: next } })),
    onSuccess: () => {
      setCurrent("");
      setNext("");
      notifyOk("Your password is changed. Your other sessions were signed out.", "Password changed");
    },
    onError: (e) => errs.setError(e),
  });
  const submit = (e: FormEvent) => {
    e.preventDefault();
    errs.clear();
    change.mutate();
  };
  return (
    <Paper withBorder p="lg" maw={480} component="section" aria-labelledby="pw-title">
      <form onSubmit={submit} noValidate aria-label="Change password">
        <Stack>
          <Title order={2} size="h4" id="pw-title">
            Change password
          </Title>
          <FormAlert error={errs.error} fields={["current_password", "new_password"]} />
          <PasswordInput
            label="Current password"
            name="current_password"
            autoComplete="current-password"
            required
            value={current}
            onChange={(e) => setCurrent(e.currentTarget.value)}
            error={errs.fieldError("current_password")}
          />
          <PasswordInput
            label="New password"
            name="new_password"
            autoComplete="new-password"
            description="8 to 128 characters"
            required
            value={next}
            onChange={(e) => setNext(e.currentTarget.value)}
            error={errs.fieldError("new_password")}
          />
          <Button type="submit" loading={change.isPending} w="fit-content">
            Change password
          </Button>
        </Stack>
      </form>
    </Paper>
  );
}

function QrImage({ uri }: { uri: string }) {
  const [src, setSrc] = useState<string | null>(null);
  useEffect(() => {
    let live = true;
    QRCode.toDataURL(uri, { margin: 1, width: 200, errorCorrectionLevel: "M" })
      .then((d) => live && setSrc(d))
      .catch(() => live && setSrc(null));
    return () => {
      live = false;
    };
  }, [uri]);
  return src ? (
    <Image src={src} w={200} h={200} alt="QR code to add this account to an authenticator app" data-testid="mfa-qr" />
  ) : null;
}

function EnableMfa() {
  const qc = useQueryClient();
  const [enrolment, setEnrolment] = useState<{ secret: string; otpauth_uri: string } | null>(null);
  const [code, setCode] = useState("");
  const errs = useFormErrors(codeOnField);
  const enroll = useMutation({
    meta: { form: true },
    mutationFn: () => unwrap(api.POST("/api/v1/auth/mfa/enroll")),
    onSuccess: (d) => setEnrolment(d as { secret: string; otpauth_uri: string }),
    onError: (e) => errs.setError(e),
  });
  const verify = useMutation({
    meta: { form: true },
    mutationFn: () => unwrap(api.POST("/api/v1/auth/mfa/verify", { body: { code: code.trim() } })),
    onSuccess: () => {
      setEnrolment(null);
      setCode("");
      void qc.invalidateQueries({ queryKey: meKey });
      notifyOk("Two-factor authentication is on. Sign-ins now ask for a code.", "MFA enabled");
    },
    onError: (e) => errs.setError(e),
  });
  if (!enrolment)
    return (
      <Stack>
        <Text>Protect your account with a code from an authenticator app at each sign-in.</Text>
        <FormAlert error={errs.error} />
        <Button
          onClick={() => {
            errs.clear();
            enroll.mutate();
          }}
          loading={enroll.isPending}
          w="fit-content"
          data-testid="mfa-enroll"
        >
          Set up two-factor authentication
        </Button>
      </Stack>
    );
  const submit = (e: FormEvent) => {
    e.preventDefault();
    errs.clear();
    verify.mutate();
  };
  return (
    <form onSubmit={submit} noValidate aria-label="Verify two-factor authentication">
      <Stack>
        <Text>Scan this code with your authenticator app, then enter the 6-digit code it shows.</Text>
        <QrImage uri={enrolment.otpauth_uri} />
        <Text size="sm">
          Or type this key: <Code data-testid="mfa-secret">{enrolment.secret}</Code>
        </Text>
        <FormAlert error={errs.error} fields={["code"]} />
        <TextInput
          label="Code from the app"
          name="code"
          autoComplete="one-time-code"
          inputMode="numeric"
          maxLength={6}
          required
          value={code}
          onChange={(e) => setCode(e.currentTarget.value)}
          error={errs.fieldError("code")}
        />
        <Button type="submit" loading={verify.isPending} w="fit-content" data-testid="mfa-verify">
          Turn on
        </Button>
      </Stack>
    </form>
  );
}

function DisableMfa() {
  const qc = useQueryClient();
  const [password, setPassword] = useState("");
  const [code, setCode] = useState("");
  const errs = useFormErrors(disableOnField);
  const disable = useMutation({
    meta: { form: true },
    mutationFn: () => unwrap(api.POST("/api/v1/auth/mfa/disable", { body: { password, code: code.trim() } })),
    onSuccess: () => {
      setPassword("");
      setCode("");
      void qc.invalidateQueries({ queryKey: meKey });
      notifyOk("Two-factor authentication is off.", "MFA disabled");
    },
    onError: (e) => errs.setError(e),
  });
  const submit = (e: FormEvent) => {
    e.preventDefault();
    errs.clear();
    disable.mutate();
  };
  return (
    <form onSubmit={submit} noValidate aria-label="Turn off two-factor authentication">
      <Stack>
        <Alert color="teal" title="Two-factor authentication is on" />
        <Text>To turn it off, enter your password and a current code.</Text>
        <FormAlert error={errs.error} fields={["password", "code"]} />
        <PasswordInput
          label="Password"
          name="password"
          autoComplete="current-password"
          required
          value={password}
          onChange={(e) => setPassword(e.currentTarget.value)}
          error={errs.fieldError("password")}
        />
        <TextInput
          label="Code from the app"
          name="code"
          autoComplete="one-time-code"
          inputMode="numeric"
          maxLength={6}
          required
          value={code}
          onChange={(e) => setCode(e.currentTarget.value)}
          error={errs.fieldError("code")}
        />
        <Button type="submit" color="red.9" loading={disable.isPending} w="fit-content" data-testid="mfa-disable">
          Turn off
        </Button>
      </Stack>
    </form>
  );
}

export default function SecurityPage() {
  const me = useMe();
  if (!me.user) return null;
  return (
    <Page title="Password and two-factor authentication">
      <PasswordForm />
      <Paper withBorder p="lg" maw={480} component="section" aria-labelledby="mfa-title">
        <Stack>
          <Title order={2} size="h4" id="mfa-title">
            Two-factor authentication
          </Title>
          {me.user.mfa_enabled ? <DisableMfa /> : <EnableMfa />}
        </Stack>
      </Paper>
    </Page>
  );
}
