// The workflow editor: YAML on the left (checked by the server as one types,
// each problem on its line), the live state diagram of the text on the
// right, publish, and the versions with a diff.
import { Suspense, lazy, useDeferredValue, useMemo, useRef, useState } from "react";
import { Alert, Badge, Button, Center, Grid, Group, List, Loader, Paper, Stack, Text, Title, UnstyledButton } from "@mantine/core";
import { useDebouncedValue } from "@mantine/hooks";
import { useMutation, useQuery, useQueryClient } from "@tanstack/react-query";
import { useNavigate, useParams } from "react-router-dom";
import { asApiError } from "../../../api/problem";
import { Page } from "../../../ui/Page";
import { QueryError, notifyOk } from "../../../ui/errors";
import { modelOf } from "./diagram";
import { problemsOf, problemText, type Problem } from "./problems";
import { StateDiagram } from "./StateDiagram";
import { VersionsPanel } from "./VersionsPanel";
import { publishWorkflow, useWorkflow, validateWorkflow } from "./workflowsApi";
import type { YamlEditorHandle } from "./YamlEditor";

// Fetched as soon as this screen's module runs, beside its first render.
const editorModule = import("./YamlEditor");
const YamlEditor = lazy(() => editorModule);

const TEMPLATE = `name: New workflow
type: new_workflow
initial: open
states:
  open: {}
  done: {final: true}
transitions:
  - {action: close, from: open, to: done}
`;

function ProblemList({ problems, onGo }: { problems: Problem[]; onGo(line: number): void }) {
  return (
    <List spacing={4} size="sm" data-testid="workflow-problems" aria-label="Problems">
      {problems.map((p, i) => (
        <List.Item key={i} data-line={p.line} style={{ whiteSpace: "normal", overflowWrap: "anywhere" }}>
          <UnstyledButton
            onClick={() => onGo(p.line)}
            style={{ textDecoration: "underline", fontWeight: 600 }}
            aria-label={`Go to line ${p.line}`}
          >
            Line {p.line}
          </UnstyledButton>
          : {problemText(p)}
        </List.Item>
      ))}
    </List>
  );
}

function EditorBody({ type, initial, latest }: { type: string | undefined; initial: string; latest: number | null }) {
  const qc = useQueryClient();
  const nav = useNavigate();
  const editor = useRef<YamlEditorHandle>(null);
  const [text, setText] = useState(initial);
  const [checked] = useDebouncedValue(text, 450);
  const shown = useDeferredValue(text);
  const model = useMemo(() => modelOf(shown), [shown]);
  const [publishProblems, setPublishProblems] = useState<{ text: string; problems: Problem[] } | null>(null);

  const validation = useQuery({
    queryKey: ["workflow-validate", checked],
    enabled: checked.trim() !== "",
    retry: false,
    staleTime: Infinity,
    gcTime: 60_000,
    queryFn: async () => {
      try {
        await validateWorkflow(checked);
        return { text: checked, problems: [] as Problem[] };
      } catch (e) {
        const err = asApiError(e);
        if (err.status !== 400 && err.status !== 422) throw err;
        return { text: checked, problems: problemsOf(err, checked) };
      }
    },
  });

  const publish = useMutation({
    meta: { form: true },
    mutationFn: (t: string) => publishWorkflow(t),
    onSuccess: (w) => {
      setPublishProblems(null);
      notifyOk(`${w.name}: version ${w.version} is published.`, "Published");
      void qc.invalidateQueries({ queryKey: ["workflows"] });
      void qc.invalidateQueries({ queryKey: ["workflow", w.type] });
      if (w.type !== type) nav(`/admin/workflows/${encodeURIComponent(w.type)}`);
    },
    onError: (e, t) => {
      const err = asApiError(e);
      setPublishProblems({ text: t, problems: err.status === 400 || err.status === 422 ? problemsOf(err, t) : [] });
    },
  });

  // The problems of the text on screen: the publish answer for exactly this
  // text, else the last check (of this text, or of a moment ago while typing).
  const problems: Problem[] =
    publishProblems && publishProblems.text === text ? publishProblems.problems : (validation.data?.problems ?? []);
  const current = validation.data?.text === text && !validation.isFetching;
  const publishError = publish.error ? asApiError(publish.error) : null;
  const otherPublishError = publishError && publishError.status !== 400 && publishError.status !== 422 ? publishError : null;

  const status = validation.isError ? (
    <Badge color="orange.9">Could not check: {asApiError(validation.error).title}</Badge>
  ) : !current ? (
    <Badge color="gray" variant="light">
      Checking…
    </Badge>
  ) : problems.length ? (
    <Badge color="red.9">
      {problems.length} problem{problems.length === 1 ? "" : "s"}
    </Badge>
  ) : (
    <Badge color="teal.9">Valid</Badge>
  );

  return (
    <Stack>
      <Grid gutter="md">
        <Grid.Col span={{ base: 12, lg: 6 }} miw={0}>
          <Stack gap="xs">
            <Group justify="space-between" wrap="wrap">
              <Title order={2} size="h4" id="source-heading">
                Definition (YAML)
              </Title>
              <Group gap="xs" role="status" aria-live="polite" data-testid="workflow-status">
                {status}
              </Group>
            </Group>
            <Suspense
              fallback={
                <Center h={320}>
                  <Loader aria-label="Loading the editor" />
                </Center>
              }
            >
              <YamlEditor
                ref={editor}
                initial={initial}
                label="Workflow definition (YAML)"
                problems={problems}
                onChange={setText}
              />
            </Suspense>
            {problems.length > 0 && (
              <Alert color="red" title="The server found these problems" role="alert">
                <ProblemList problems={problems} onGo={(l) => editor.current?.goToLine(l)} />
              </Alert>
            )}
            {otherPublishError && (
              <Alert color="red" title={otherPublishError.title} role="alert">
                {otherPublishError.detail}
              </Alert>
            )}
            <Group>
              <Button onClick={() => publish.mutate(text)} loading={publish.isPending} data-testid="publish-workflow">
                Publish{latest ? ` as version ${latest + 1}` : ""}
              </Button>
              <Button variant="default" onClick={() => void validation.refetch()} disabled={!text.trim()}>
                Check now
              </Button>
            </Group>
          </Stack>
        </Grid.Col>
        <Grid.Col span={{ base: 12, lg: 6 }} miw={0}>
          <Stack gap="xs">
            <Title order={2} size="h4">
              State diagram
            </Title>
            <Paper withBorder p="xs">
              {model && model.states.length > 0 ? (
                <StateDiagram model={model} />
              ) : (
                <Text size="sm">The text does not describe any states yet.</Text>
              )}
            </Paper>
          </Stack>
        </Grid.Col>
      </Grid>
      {type && latest ? (
        <Stack gap="xs">
          <Title order={2} size="h4">
            Versions
          </Title>
          <VersionsPanel
            type={type}
            latest={latest}
            editorText={text}
            onOpen={(src, n) => {
              editor.current?.setText(src);
              notifyOk(`Version ${n} is in the editor; publish it to make it the latest.`);
            }}
          />
        </Stack>
      ) : null}
    </Stack>
  );
}

export default function WorkflowEditorPage() {
  const { type } = useParams();
  const wf = useWorkflow(type);
  const title = type ? `Workflow ${wf.data?.name ?? type}` : "New workflow";
  if (type && wf.isPending)
    return (
      <Page title={title}>
        <Center py="xl">
          <Loader aria-label="Loading the workflow" />
        </Center>
      </Page>
    );
  if (type && wf.isError)
    return (
      <Page title={title}>
        <QueryError error={wf.error} what="the workflow" />
      </Page>
    );
  return (
    <Page title={title}>
      {type && wf.data && (
        <Text size="sm">
          Type <code>{wf.data.type}</code>, latest version {wf.data.version}. Publishing makes the next version; requests already
          open stay on the version they started on.
        </Text>
      )}
      <EditorBody
        key={type ?? "new"}
        type={type}
        initial={type ? (wf.data?.source ?? "") : TEMPLATE}
        latest={type ? (wf.data?.version ?? null) : null}
      />
    </Page>
  );
}
