// Catalog and inventory: every product (drafts and archived ones too),
// search and status filter, create and edit, stock levels live and
// adjustments.
import { useState } from "react";
import { Badge, Button, Center, Group, Loader, Modal, Paper, Select, Table, Text, TextInput } from "@mantine/core";
import { useDebouncedValue } from "@mantine/hooks";
import { useInfiniteQuery } from "@tanstack/react-query";
import { api, unwrap } from "../../../api/client";
import { Page } from "../../../ui/Page";
import { QueryError } from "../../../ui/errors";
import { money } from "../../../ui/format";
import { ProductForm, type Product } from "./ProductForm";
import { StockForm, useStockOf } from "./StockForm";

function StockCell({ id }: { id: string }) {
  const s = useStockOf(id);
  if (s.isPending) return <Loader size="xs" aria-label="Loading the stock" />;
  if (!s.data) return <Text size="sm">—</Text>;
  return (
    <Text size="sm" c={s.data.available === 0 ? "red.9" : undefined}>
      {s.data.available} available
      <Text span size="xs" c="dimmed">
        {" "}
        ({s.data.on_hand} on hand, {s.data.reserved} reserved)
      </Text>
    </Text>
  );
}

const statusColor = { active: "teal.9", draft: "gray", archived: "orange" } as const;

export default function CatalogAdminPage() {
  const [q, setQ] = useState("");
  const [dq] = useDebouncedValue(q.trim(), 300);
  const [status, setStatus] = useState<string | null>(null);
  const [editing, setEditing] = useState<Product | "new" | null>(null);
  const [stockOf, setStockOf] = useState<Product | null>(null);
  const products = useInfiniteQuery({
    queryKey: ["admin-products", { dq, status }],
    initialPageParam: undefined as string | undefined,
    queryFn: ({ pageParam }) =>
      unwrap(
        api.GET("/api/v1/products", {
          params: { query: { limit: 50, ...(pageParam ? { cursor: pageParam } : {}), ...(dq ? { q: dq } : {}), ...(status ? { status } : {}) } },
        }),
      ),
    getNextPageParam: (last) => last.next_cursor ?? undefined,
  });
  const items = products.data?.pages.flatMap((p) => p.data) ?? [];
  return (
    <Page
      title="Catalog and inventory"
      actions={
        <Button onClick={() => setEditing("new")} data-testid="new-product">
          New product
        </Button>
      }
    >
      <Group align="end" wrap="wrap">
        <TextInput label="Search" description="name, description or SKU" type="search" value={q} onChange={(e) => setQ(e.currentTarget.value)} w={280} />
        <Select label="Status" placeholder="Any status" data={["active", "draft", "archived"]} value={status} onChange={setStatus} clearable w={180} />
      </Group>
      {products.isError && <QueryError error={products.error} what="the products" />}
      {products.isPending ? (
        <Center py="xl">
          <Loader aria-label="Loading the products" />
        </Center>
      ) : (
        <Paper withBorder style={{ overflowX: "auto" }} tabIndex={0}>
          <Table miw={760} data-testid="product-admin-list">
            <Table.Thead>
              <Table.Tr>
                <Table.Th>Product</Table.Th>
                <Table.Th>Price</Table.Th>
                <Table.Th>Status</Table.Th>
                <Table.Th>Stock</Table.Th>
                <Table.Th>Actions</Table.Th>
              </Table.Tr>
            </Table.Thead>
            <Table.Tbody>
              {items.map((p) => (
                <Table.Tr key={p.id}>
                  <Table.Td>
                    <Text size="sm" fw={500}>
                      {p.name}
                    </Text>
                    <Text size="xs">{p.sku}</Text>
                  </Table.Td>
                  <Table.Td>{money(p.price, p.currency)}</Table.Td>
                  <Table.Td>
                    <Badge color={statusColor[p.status]} variant={p.status === "active" ? "filled" : "light"}>
                      {p.status}
                    </Badge>
                  </Table.Td>
                  <Table.Td>
                    <StockCell id={p.id} />
                  </Table.Td>
                  <Table.Td>
                    <Group gap={4} wrap="nowrap">
                      <Button size="compact-sm" variant="light" onClick={() => setEditing(p)} aria-label={`Edit ${p.name}`}>
                        Edit
                      </Button>
                      <Button size="compact-sm" variant="light" onClick={() => setStockOf(p)} aria-label={`Adjust the stock of ${p.name}`}>
                        Stock
                      </Button>
                    </Group>
                  </Table.Td>
                </Table.Tr>
              ))}
            </Table.Tbody>
          </Table>
          {items.length === 0 && (
            <Text p="md" role="status">
              No product matches.
            </Text>
          )}
        </Paper>
      )}
      {products.hasNextPage && (
        <Center>
          <Button variant="default" onClick={() => void products.fetchNextPage()} loading={products.isFetchingNextPage}>
            Load more products
          </Button>
        </Center>
      )}
      <Modal opened={editing !== null} onClose={() => setEditing(null)} title={editing === "new" ? "New product" : editing ? `Edit ${editing.name}` : ""} size="lg">
        {editing !== null && <ProductForm product={editing === "new" ? null : editing} onDone={() => setEditing(null)} />}
      </Modal>
      <Modal opened={stockOf !== null} onClose={() => setStockOf(null)} title={stockOf ? `Stock of ${stockOf.name}` : ""}>
        {stockOf && <StockForm product={stockOf} onDone={() => setStockOf(null)} />}
      </Modal>
    </Page>
  );
}
