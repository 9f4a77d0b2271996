// The workflows: the latest version of each type, and a new one.
import { Anchor, Button, Center, Loader, Paper, Table, Text } from "@mantine/core";
import { Link } from "react-router-dom";
import { Page } from "../../../ui/Page";
import { QueryError } from "../../../ui/errors";
import { dateTime } from "../../../ui/format";
import { useWorkflows } from "./workflowsApi";

export default function WorkflowsPage() {
  const q = useWorkflows();
  const items = q.data?.data ?? [];
  return (
    <Page
      title="Workflows"
      actions={
        <Button component={Link} to="/admin/workflows/new" data-testid="new-workflow">
          New workflow
        </Button>
      }
    >
      {q.isError && <QueryError error={q.error} what="the workflows" />}
      {q.isPending ? (
        <Center py="xl">
          <Loader aria-label="Loading the workflows" />
        </Center>
      ) : items.length === 0 ? (
        <Text>No workflow is published yet.</Text>
      ) : (
        <Paper withBorder style={{ overflowX: "auto" }} tabIndex={0}>
          <Table miw={520} data-testid="workflow-list">
            <Table.Thead>
              <Table.Tr>
                <Table.Th>Name</Table.Th>
                <Table.Th>Type</Table.Th>
                <Table.Th>Latest version</Table.Th>
                <Table.Th>Published</Table.Th>
              </Table.Tr>
            </Table.Thead>
            <Table.Tbody>
              {items.map((w) => (
                <Table.Tr key={w.type}>
                  <Table.Td>
                    <Anchor component={Link} to={`/admin/workflows/${encodeURIComponent(w.type)}`}>
                      {w.name}
                    </Anchor>
                  </Table.Td>
                  <Table.Td>
                    <code>{w.type}</code>
                  </Table.Td>
                  <Table.Td>{w.version}</Table.Td>
                  <Table.Td>{dateTime(w.created_at)}</Table.Td>
                </Table.Tr>
              ))}
            </Table.Tbody>
          </Table>
        </Paper>
      )}
    </Page>
  );
}
