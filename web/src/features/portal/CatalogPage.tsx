// The catalog of request types a person may open (GET /request-types).
import { Button, Card, SimpleGrid, Stack, Text, Title } from "@mantine/core";
import { Link } from "react-router-dom";
import { Loading } from "../../ui/Loading";
import { Page } from "../../ui/Page";
import { QueryError } from "../../ui/errors";
import { PortalNav } from "./PortalNav";
import { useRequestTypes } from "./requestsApi";

export default function CatalogPage() {
  const types = useRequestTypes();
  return (
    <Page title="Service portal" actions={<PortalNav />}>
      <Text>What do you need? Pick a kind of request.</Text>
      {types.isError && <QueryError error={types.error} what="the request types" />}
      {types.isPending ? (
        <Loading label="Loading the request types" />
      ) : (types.data ?? []).length === 0 ? (
        <Text role="status">No request types are published yet.</Text>
      ) : (
        <SimpleGrid cols={{ base: 1, sm: 2, lg: 3 }} data-testid="request-types">
          {(types.data ?? []).map((t) => (
            <Card key={t.type} withBorder padding="lg" data-testid={`request-type-${t.type}`}>
              <Stack gap="xs" h="100%">
                <Title order={2} size="h4">
                  {t.name}
                </Title>
                <Text size="sm" style={{ flexGrow: 1 }}>
                  {t.description || "—"}
                </Text>
                <Button
                  component={Link}
                  to={`/portal/new/${encodeURIComponent(t.type)}`}
                  aria-label={`Open a request: ${t.name}`}
                  data-testid={`open-${t.type}`}
                >
                  Open a request
                </Button>
              </Stack>
            </Card>
          ))}
        </SimpleGrid>
      )}
    </Page>
  );
}
