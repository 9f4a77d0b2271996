// Sign in (with the TOTP step when the account has MFA on) or create an
// account. Errors are shown on their fields; the rest in an alert.
import { useState, type FormEvent } from "react";
import { Button, Paper, PasswordInput, SegmentedControl, Stack, Text, TextInput } from "@mantine/core";
import { Navigate, useNavigate, useSearchParams } from "react-router-dom";
import { login, loginMfa, register } from "../api/session";
import { useMe } from "../api/me";
import { FormAlert, useFormErrors } from "../ui/errors";
import { Page } from "../ui/Page";

/** Only same-app paths: `next` must not send the person to another site. */
function safeNext(next: string | null): string {
  return next && next.startsWith("/") && !next.startsWith("//") ? next : "/";
}

const mfaOnField = { "invalid-code": "code", "code-replayed": "code" };

function MfaStep({ mfaToken, onDone }: { mfaToken: string; onDone: () => void }) {
  const [code, setCode] = useState("");
  const [busy, setBusy] = useState(false);
  const errs = useFormErrors(mfaOnField);
  const submit = async (e: FormEvent) => {
    e.preventDefault();
    setBusy(true);
    errs.clear();
    try {
      await loginMfa(mfaToken, code.trim());
      onDone();
    } catch (err) {
      errs.setError(err);
    } finally {
      setBusy(false);
    }
  };
  return (
    <form onSubmit={submit} noValidate aria-label="Two-factor code">
      <Stack>
        <Text>Enter the 6-digit code from your authenticator app.</Text>
        <FormAlert error={errs.error} fields={["code"]} />
        <TextInput
          label="Authentication code"
          name="code"
          autoComplete="one-time-code"
          inputMode="numeric"
          maxLength={6}
          required
          value={code}
          onChange={(e) => setCode(e.currentTarget.value)}
          error={errs.fieldError("code")}
          data-autofocus
        />
        <Button type="submit" loading={busy}>
          Verify
        </Button>
      </Stack>
    </form>
  );
}

export function LoginPage() {
  const me = useMe();
  const nav = useNavigate();
  const [params] = useSearchParams();
  const next = safeNext(params.get("next"));
  const [mode, setMode] = useState<"login" | "register">("login");
  const [email, setEmail] = useState("");
  const [password, setPassword] = useState("");
  const [name, setName] = useState("");
  const [busy, setBusy] = useState(false);
  const [mfaToken, setMfaToken] = useState<string | null>(null);
  const [notice, setNotice] = useState<string | null>(null);
  const errs = useFormErrors();

  if (me.user && !mfaToken) return <Navigate to={next} replace />;
  const done = () => nav(next, { replace: true });

  const submit = async (e: FormEvent) => {
    e.preventDefault();
    setBusy(true);
    errs.clear();
    setNotice(null);
    try {
      if (mode === "login") {
        const r = await login(email.trim(), password);
        if (r.ok) done();
        else setMfaToken(r.mfaToken);
      } else {
        const t = await register(email.trim(), password, name.trim() || undefined);
        if (t) done();
        else setNotice("Account created. Open the link we e-mailed you to verify your address, then sign in.");
      }
    } catch (err) {
      errs.setError(err);
    } finally {
      setBusy(false);
    }
  };

  return (
    <Page title={mode === "login" ? "Sign in" : "Create an account"}>
      <Paper withBorder p="lg" maw={420} w="100%">
        {mfaToken ? (
          <MfaStep mfaToken={mfaToken} onDone={done} />
        ) : (
          <form onSubmit={submit} noValidate aria-label={mode === "login" ? "Sign in" : "Create an account"}>
            <Stack>
              <SegmentedControl
                value={mode}
                onChange={(v) => {
                  setMode(v as "login" | "register");
                  errs.clear();
                }}
                data={[
                  { label: "Sign in", value: "login" },
                  { label: "New account", value: "register" },
                ]}
                aria-label="Sign in or create an account"
              />
              {notice && (
                <Text role="status" c="teal.9">
                  {notice}
                </Text>
              )}
              <FormAlert error={errs.error} fields={["email", "password", "name"]} />
              <TextInput
                label="E-mail"
                name="email"
                type="email"
                autoComplete={mode === "login" ? "username" : "email"}
                required
                value={email}
                onChange={(e) => setEmail(e.currentTarget.value)}
                error={errs.fieldError("email")}
              />
              {mode === "register" && (
                <TextInput
                  label="Name"
                  name="name"
                  autoComplete="name"
                  value={name}
                  onChange={(e) => setName(e.currentTarget.value)}
                  error={errs.fieldError("name")}
                />
              )}
              <PasswordInput
                label="Password"
                name="password"
                autoComplete={mode === "login" ? "current-password" : "new-password"}
                description={mode === "register" ? "8 to 128 characters" : undefined}
                required
                value={password}
                onChange={(e) => setPassword(e.currentTarget.value)}
                error={errs.fieldError("password")}
              />
              <Button type="submit" loading={busy} data-testid="login-submit">
                {mode === "login" ? "Sign in" : "Create account"}
              </Button>
              {mode === "login" && (
                <Text size="sm" c="dimmed">
                  The demo accounts are created by <code>serviceflow seed</code>.
                </Text>
              )}
            </Stack>
          </form>
        )}
      </Paper>
    </Page>
  );
}
