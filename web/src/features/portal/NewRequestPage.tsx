// Opening a request of one type: the form generated from its fields; then
// the new request's page (where the actions, e.g. submit, are).
import { Alert, Anchor, Paper, Text } from "@mantine/core";
import { Link, useNavigate, useParams } from "react-router-dom";
import { Loading } from "../../ui/Loading";
import { Page } from "../../ui/Page";
import { QueryError, notifyOk } from "../../ui/errors";
import { RequestForm } from "./RequestForm";
import { useRequestType } from "./requestsApi";

export default function NewRequestPage() {
  const { type = "" } = useParams();
  const t = useRequestType(type);
  const nav = useNavigate();
  if (t.isPending)
    return (
      <Loading label="Loading the form" />
    );
  if (t.isError) return <QueryError error={t.error} what="the request types" />;
  if (!t.type)
    return (
      <Page title="Unknown request type">
        <Alert color="orange" role="alert">
          There is no request type “{type}”. <Anchor component={Link} to="/portal">See the catalog</Anchor>
        </Alert>
      </Page>
    );
  const rt = t.type;
  return (
    <Page title={`New request: ${rt.name}`}>
      <Anchor component={Link} to="/portal">
        ← All request types
      </Anchor>
      {rt.description && <Text>{rt.description}</Text>}
      <Paper withBorder p="lg" maw={720}>
        <RequestForm
          type={rt}
          onOpened={(r) => {
            notifyOk(`“${r.title}” was opened.`);
            nav(`/portal/requests/${r.id}`);
          }}
        />
      </Paper>
    </Page>
  );
}
