// The versions of a workflow (newest first) and a line diff between any two
// of them, or between a version and the text in the editor.
import { useMemo, useState } from "react";
import { Alert, Box, Button, Group, Loader, Paper, Select, Stack, Table, Text } from "@mantine/core";
import { useQueries, useQuery } from "@tanstack/react-query";
import { dateTime } from "../../../ui/format";
import { QueryError } from "../../../ui/errors";
import { lineDiff, type DiffLine } from "./lineDiff";
import { workflowVersionQuery } from "./workflowsApi";

const EDITOR = "editor";
const MAX_LISTED = 20;

const CONTEXT = 3;

/** Runs of unchanged lines longer than twice the context fold into one marker. */
function folded(lines: DiffLine[]): (DiffLine | { skipped: number })[] {
  const out: (DiffLine | { skipped: number })[] = [];
  const changed = lines.map((l) => l.op !== "same");
  const near = (i: number) => {
    for (let k = Math.max(0, i - CONTEXT); k <= Math.min(lines.length - 1, i + CONTEXT); k++) if (changed[k]) return true;
    return false;
  };
  let skipped = 0;
  lines.forEach((l, i) => {
    if (near(i)) {
      if (skipped) out.push({ skipped });
      skipped = 0;
      out.push(l);
    } else skipped++;
  });
  if (skipped) out.push({ skipped });
  return out;
}

function DiffView({ oldText, newText, oldName, newName }: { oldText: string; newText: string; oldName: string; newName: string }) {
  const lines = useMemo(() => lineDiff(oldText, newText), [oldText, newText]);
  const added = lines.filter((l) => l.op === "add").length;
  const removed = lines.filter((l) => l.op === "del").length;
  return (
    <Stack gap={4}>
      <Text size="sm" role="status" data-testid="diff-summary">
        {added === 0 && removed === 0
          ? `${oldName} and ${newName} are the same.`
          : `${added} line${added === 1 ? "" : "s"} added, ${removed} removed from ${oldName} to ${newName}.`}
      </Text>
      <Box
        component="pre"
        data-testid="workflow-diff"
        aria-label={`Differences from ${oldName} to ${newName}`}
        tabIndex={0}
        style={{ overflow: "auto", maxHeight: "50vh", margin: 0, fontSize: 12, border: "1px solid #dee2e6", borderRadius: 6 }}
      >
        {folded(lines).map((l, i) =>
          "skipped" in l ? (
            <div key={i} style={{ padding: "0 8px", color: "#495057", background: "#f1f3f5" }}>
              … {l.skipped} unchanged line{l.skipped === 1 ? "" : "s"} …
            </div>
          ) : (
          <div
            key={i}
            style={{
              background: l.op === "add" ? "#e6f4ea" : l.op === "del" ? "#fdecea" : undefined,
              color: "#1a1b1e",
              padding: "0 8px",
              whiteSpace: "pre",
            }}
          >
            <span aria-hidden style={{ display: "inline-block", width: 72, color: "#495057" }}>
              {l.a ?? ""}
              {"\u00a0"}
              {l.b ?? ""}
            </span>
            <span>{l.op === "add" ? "+ " : l.op === "del" ? "- " : "  "}</span>
            {l.text}
          </div>
          ),
        )}
      </Box>
    </Stack>
  );
}

export function VersionsPanel({
  type,
  latest,
  editorText,
  onOpen,
}: {
  type: string;
  latest: number;
  editorText: string;
  onOpen(text: string, version: number): void;
}) {
  const numbers = Array.from({ length: Math.min(latest, MAX_LISTED) }, (_, i) => latest - i);
  const versions = useQueries({ queries: numbers.map((n) => workflowVersionQuery(type, n)) });
  const [from, setFrom] = useState<string | null>(String(Math.max(1, latest - 1)));
  const [to, setTo] = useState<string | null>(latest > 1 ? String(latest) : EDITOR);
  const options = [{ value: EDITOR, label: "The editor (not published)" }, ...Array.from({ length: latest }, (_, i) => ({ value: String(latest - i), label: `Version ${latest - i}` }))];
  const fromQ = useQuery({ ...workflowVersionQuery(type, Number(from ?? 1)), enabled: !!from && from !== EDITOR });
  const toQ = useQuery({ ...workflowVersionQuery(type, Number(to ?? 1)), enabled: !!to && to !== EDITOR });
  const textOf = (v: string | null, q: typeof fromQ) => (v === EDITOR ? editorText : q.data?.source);
  const name = (v: string | null) => (v === EDITOR ? "the editor" : `version ${v}`);
  const a = textOf(from, fromQ);
  const b = textOf(to, toQ);
  return (
    <Stack>
      <Paper withBorder style={{ overflowX: "auto" }} tabIndex={0}>
        <Table miw={480} data-testid="workflow-versions">
          <Table.Thead>
            <Table.Tr>
              <Table.Th>Version</Table.Th>
              <Table.Th>Published</Table.Th>
              <Table.Th>By</Table.Th>
              <Table.Th>
                Open
              </Table.Th>
            </Table.Tr>
          </Table.Thead>
          <Table.Tbody>
            {numbers.map((n, i) => {
              const q = versions[i]!;
              return (
                <Table.Tr key={n}>
                  <Table.Td>
                    {n}
                    {n === latest ? " (latest)" : ""}
                  </Table.Td>
                  <Table.Td>{q.isPending ? <Loader size="xs" aria-label="Loading" /> : dateTime(q.data?.created_at)}</Table.Td>
                  <Table.Td>{q.data?.created_by ?? ""}</Table.Td>
                  <Table.Td>
                    <Group gap={4} wrap="nowrap">
                      <Button size="compact-sm" variant="light" disabled={!q.data} onClick={() => q.data && onOpen(q.data.source ?? "", n)}>
                        Open version {n} in the editor
                      </Button>
                    </Group>
                  </Table.Td>
                </Table.Tr>
              );
            })}
          </Table.Tbody>
        </Table>
      </Paper>
      {latest > MAX_LISTED && <Text size="sm">The {MAX_LISTED} newest versions are listed; the diff reaches every version.</Text>}
      <Group align="end" wrap="wrap">
        <Select label="Compare" data={options} value={from} onChange={setFrom} allowDeselect={false} w={240} />
        <Select label="with" data={options} value={to} onChange={setTo} allowDeselect={false} w={240} />
      </Group>
      {fromQ.isError && <QueryError error={fromQ.error} what={name(from)} />}
      {toQ.isError && <QueryError error={toQ.error} what={name(to)} />}
      {a !== undefined && b !== undefined ? (
        <DiffView oldText={a} newText={b} oldName={name(from)} newName={name(to)} />
      ) : fromQ.isError || toQ.isError ? null : (
        <Alert color="gray">Loading the versions…</Alert>
      )}
    </Stack>
  );
}
