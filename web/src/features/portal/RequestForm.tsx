// The form of a request type, generated from the fields its workflow
// declares (docs/workflows.md, Input fields): one input per field by its
// type, with its label, help text, default and limits as input hints. The
// server checks the values (every problem at once, each as data.<name>) and
// its messages appear on the inputs they name. A type that declares no
// fields gets one free-text box: a JSON object is sent as the data, other
// text as { details }.
import { useState, type FormEvent } from "react";
import { Button, Checkbox, Group, NativeSelect, Stack, TextInput } from "@mantine/core";
import { AutoTextarea } from "../../ui/AutoTextarea";
import { FormAlert, useFormErrors } from "../../ui/errors";
import type { RequestField, RequestType, ServiceRequest } from "./requestsApi";
import { useOpenRequest } from "./requestsApi";
import { humanize } from "./words";

type Values = Record<string, string | boolean>;

function initialValue(f: RequestField): string | boolean {
  const d = f.default;
  if (f.type === "boolean") return d === true;
  if (d === undefined || d === null) return "";
  return typeof d === "object" ? JSON.stringify(d, null, 2) : String(d);
}

/** The value to send for a field, or undefined to leave it out (the server applies the default). */
function toData(f: RequestField, v: string | boolean): { value?: unknown; error?: string } {
  if (f.type === "boolean") return { value: v === true };
  const s = typeof v === "string" ? v : "";
  if (s.trim() === "") return {};
  switch (f.type) {
    case "integer":
    case "number": {
      const n = Number(s.trim().replace(/\s/g, ""));
      // a text that is no number goes as it is: the server says what it must be
      return { value: Number.isFinite(n) ? n : s };
    }
    case "object":
    case "list":
      try {
        return { value: JSON.parse(s) as unknown };
      } catch {
        return { error: `Must be JSON (${f.type === "list" ? "an array" : "an object"})` };
      }
    default:
      return { value: s };
  }
}

function limitsHint(f: RequestField): string {
  const parts: string[] = [];
  if (f.type === "string" || f.type === "text") {
    if (f.min_length !== undefined && f.max_length !== undefined) parts.push(`${f.min_length}–${f.max_length} characters`);
    else if (f.min_length !== undefined) parts.push(`at least ${f.min_length} characters`);
    else if (f.max_length !== undefined) parts.push(`up to ${f.max_length} characters`);
  }
  if ((f.type === "number" || f.type === "integer" || f.type === "date") && (f.min !== undefined || f.max !== undefined)) {
    if (f.min !== undefined && f.max !== undefined) parts.push(`from ${f.min} to ${f.max}`);
    else if (f.min !== undefined) parts.push(`at least ${f.min}`);
    else parts.push(`at most ${f.max}`);
  }
  return parts.join("; ");
}

function FieldInput({
  field: f,
  value,
  onChange,
  error,
}: {
  field: RequestField;
  value: string | boolean;
  onChange: (v: string | boolean) => void;
  error?: string;
}) {
  const label = f.label || humanize(f.name);
  const hint = limitsHint(f);
  const description = [f.description, hint].filter(Boolean).join(" · ") || undefined;
  const common = {
    label,
    description,
    name: f.name,
    required: !!f.required,
    error,
    "data-testid": `field-${f.name}`,
  };
  const text = typeof value === "string" ? value : "";
  const set = (e: { currentTarget: { value: string } }) => onChange(e.currentTarget.value);
  switch (f.type) {
    case "text":
      return <AutoTextarea {...common} minRows={3} maxLength={f.max_length} value={text} onChange={set} />;
    case "integer":
    case "number":
      return (
        <TextInput
          {...common}
          inputMode={f.type === "integer" ? "numeric" : "decimal"}
          value={text}
          onChange={set}
          maw={280}
        />
      );
    case "boolean":
      return (
        <Checkbox
          label={label}
          description={description}
          name={f.name}
          error={error}
          checked={value === true}
          onChange={(e) => onChange(e.currentTarget.checked)}
          data-testid={`field-${f.name}`}
        />
      );
    case "date":
      return (
        <TextInput
          {...common}
          type="date"
          min={typeof f.min === "string" ? f.min : undefined}
          max={typeof f.max === "string" ? f.max : undefined}
          value={text}
          onChange={set}
          maw={280}
        />
      );
    case "email":
      return <TextInput {...common} type="email" autoComplete="email" value={text} onChange={set} />;
    case "enum": {
      const options = f.options ?? [];
      const blank = !f.required || f.default === undefined;
      return (
        <NativeSelect
          {...common}
          value={text}
          onChange={set}
          data={[...(blank ? [{ value: "", label: "— choose —" }] : []), ...options.map((o) => ({ value: o, label: humanize(o) }))]}
          maw={360}
        />
      );
    }
    case "object":
    case "list":
      return (
        <AutoTextarea
          {...common}
          description={[description, `JSON ${f.type === "list" ? "array" : "object"}`].filter(Boolean).join(" · ")}
          minRows={3}
          styles={{ input: { fontFamily: "monospace" } }}
          value={text}
          onChange={set}
        />
      );
    default:
      return <TextInput {...common} maxLength={f.max_length} value={text} onChange={set} />;
  }
}

/** Free text for a type without fields: a JSON object is the data as it is. */
function freeTextData(s: string): Record<string, unknown> {
  const t = s.trim();
  if (!t) return {};
  if (t.startsWith("{")) {
    try {
      const v = JSON.parse(t) as unknown;
      if (v && typeof v === "object" && !Array.isArray(v)) return v as Record<string, unknown>;
    } catch {
      /* plain text after all */
    }
  }
  return { details: s };
}

export function RequestForm({ type, onOpened }: { type: RequestType; onOpened: (r: ServiceRequest) => void }) {
  const fields = type.fields ?? [];
  const [title, setTitle] = useState("");
  const [values, setValues] = useState<Values>(() => Object.fromEntries(fields.map((f) => [f.name, initialValue(f)])));
  const [free, setFree] = useState("");
  const [local, setLocal] = useState<Record<string, string>>({});
  const errs = useFormErrors();
  const open = useOpenRequest();

  const submit = (e: FormEvent) => {
    e.preventDefault();
    errs.clear();
    const data: Record<string, unknown> = {};
    const problems: Record<string, string> = {};
    if (fields.length === 0) Object.assign(data, freeTextData(free));
    for (const f of fields) {
      const r = toData(f, values[f.name] ?? "");
      if (r.error) problems[f.name] = r.error;
      else if (r.value !== undefined) data[f.name] = r.value;
    }
    setLocal(problems);
    if (Object.keys(problems).length) return;
    open.mutate({ type: type.type, title: title.trim(), data }, { onSuccess: onOpened, onError: (x) => errs.setError(x) });
  };

  // the inputs that show their own errors; any other (data.<key> of no field) is listed in the alert
  const shown = ["title", ...(fields.length ? fields.map((f) => `data.${f.name}`) : ["data"])];
  return (
    <form onSubmit={submit} noValidate aria-label={`New request: ${type.name}`} data-testid="request-form">
      <Stack>
        <FormAlert error={errs.error} fields={shown} />
        <TextInput
          label="Title"
          description="A short summary: what you need"
          name="title"
          required
          maxLength={200}
          value={title}
          onChange={(e) => setTitle(e.currentTarget.value)}
          error={errs.fieldError("title")}
          data-testid="field-title"
        />
        {fields.map((f) => (
          <FieldInput
            key={f.name}
            field={f}
            value={values[f.name] ?? ""}
            onChange={(v) => setValues((old) => ({ ...old, [f.name]: v }))}
            error={local[f.name] ?? errs.fieldError(`data.${f.name}`)}
          />
        ))}
        {fields.length === 0 && (
          <AutoTextarea
            label="Details"
            description="Describe what you need (or give a JSON object of the request's data)"
            name="details"
            minRows={4}
            value={free}
            onChange={(e) => setFree(e.currentTarget.value)}
            error={errs.fieldError("data")}
            data-testid="field-details"
          />
        )}
        <Group>
          <Button type="submit" loading={open.isPending} data-testid="request-submit">
            Open request
          </Button>
        </Group>
      </Stack>
    </form>
  );
}
