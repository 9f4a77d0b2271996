// Showing API errors in words: on the field the server named, in a form
// alert when it named none, or as a toast for actions without a form.
import { useCallback, useState } from "react";
import { Alert, List } from "@mantine/core";
import { notifications } from "@mantine/notifications";
import { ApiError, asApiError } from "../api/problem";

/** A toast for an error that belongs to no field (or to no form at all). */
export function notifyError(e: unknown, title?: string): void {
  const err = asApiError(e);
  notifications.show({
    color: "red",
    title: title ?? err.title,
    message: describe(err) || err.title,
    autoClose: 8000,
  });
}

export function notifyOk(message: string, title?: string): void {
  notifications.show({ color: "teal", title, message, autoClose: 4000 });
}

/** The error in one or two sentences: detail, else the field messages. */
export function describe(err: ApiError): string {
  if (err.detail) return err.detail;
  const fields = Object.entries(err.fieldErrors).map(([k, v]) => `${k}: ${v}`);
  if (fields.length) return fields.join("; ");
  return err.retryAfter ? `Try again in ${err.retryAfter} s.` : "";
}

/**
 * Field errors for a form. `fieldError("email")` is the server's message for
 * that field (or a nested one: "items" also shows "items[0].quantity");
 * `error` is the whole ApiError for a <FormAlert>.
 */
export function useFormErrors(codeFields?: Record<string, string>) {
  const [error, setErr] = useState<ApiError | null>(null);
  const setError = useCallback(
    (e: unknown) => setErr(e == null ? null : onField(asApiError(e), codeFields)),
    [codeFields],
  );
  const clear = useCallback(() => setErr(null), []);
  const fieldError = useCallback(
    (name: string): string | undefined => {
      if (!error) return undefined;
      const exact = error.fieldErrors[name];
      if (exact) return exact;
      const nested = Object.entries(error.fieldErrors).filter(
        ([k]) => k.startsWith(`${name}.`) || k.startsWith(`${name}[`),
      );
      return nested.length ? nested.map(([, v]) => v).join("; ") : undefined;
    },
    [error],
  );
  return { error, setError, clear, fieldError };
}

/**
 * Some answers name no field but plainly concern one (401 `invalid-code` is
 * about the code input): `codeFields` maps such problem codes to a field so
 * the message shows on it.
 */
function onField(err: ApiError, codeFields?: Record<string, string>): ApiError {
  const field = codeFields?.[err.code];
  if (!field || err.hasFieldErrors) return err;
  const message = err.detail || err.title;
  return new ApiError(err.status, { ...err.body, errors: [{ field, message }] }, err.retryAfter);
}

/**
 * The form-level part of an error: its title and detail, plus any field
 * error whose field is not among `fields` (the inputs the form shows), so
 * nothing the server said is lost.
 */
export function FormAlert({ error, fields = [] }: { error: ApiError | null; fields?: string[] }) {
  if (!error) return null;
  const shown = (k: string) => fields.some((n) => k === n || k.startsWith(`${n}.`) || k.startsWith(`${n}[`));
  const rest = Object.entries(error.fieldErrors).filter(([k]) => !shown(k));
  const onlyFields = error.hasFieldErrors && rest.length === 0;
  return (
    <Alert color="red" title={error.title} role="alert" data-testid="form-error">
      {onlyFields ? "Please correct the fields marked below." : error.detail || null}
      {error.retryAfter ? ` Try again in ${error.retryAfter} s.` : null}
      {rest.length > 0 && (
        <List size="sm" mt={4}>
          {rest.map(([k, v]) => (
            <List.Item key={k}>
              {k}: {v}
            </List.Item>
          ))}
        </List>
      )}
    </Alert>
  );
}

/** A failed query rendered in place of its content. */
export function QueryError({ error, what }: { error: unknown; what?: string }) {
  const err = asApiError(error);
  return (
    <Alert color="red" title={what ? `Could not load ${what}` : err.title} role="alert">
      {describe(err) || err.title}
    </Alert>
  );
}
