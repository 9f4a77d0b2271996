// Catalog and inventory: every product (drafts and archived ones too),
// search and status filter, create and edit, stock levels live and
// adjustments.
import { useState } from "react";
import { Badge, Button, Group, Loader, Modal, Select, Text, TextInput } from "@mantine/core";
import { useDebouncedValue } from "@mantine/hooks";
import { api, unwrap } from "../../../api/client";
import { pageQuery, useCursorList } from "../../../api/lists";
import { CursorTable } from "../../../ui/CursorTable";
import { Page } from "../../../ui/Page";
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

function ProductCell({ p }: { p: Product }) {
  return (
    <>
      <Text size="sm" fw={500}>
        {p.name}
      </Text>
      <Text size="xs">{p.sku}</Text>
    </>
  );
}

const statusColor = { active: "teal.9", draft: "gray", archived: "orange" } as const;

export default function CatalogAdminPage() {
  const [q, setQ] = useState("");
  const [dq] = useDebouncedValue(q.trim(), 300);
  const [status, setStatus] = useState<string | null>(null);
  const [editing, setEditing] = useState<Product | "new" | null>(null);
  const [stockOf, setStockOf] = useState<Product | null>(null);
  const products = useCursorList({
    queryKey: ["admin-products", { dq, status }],
    fetchPage: (cursor) => unwrap(api.GET("/api/v1/products", { params: { query: pageQuery(50, cursor, { q: dq, status }) } })),
  });
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
      <CursorTable list={products} what="the products" minWidth={760} testId="product-admin-list"
        columns={[
          { header: "Product", cell: (p) => <ProductCell p={p} /> },
          { header: "Price", cell: (p) => money(p.price, p.currency) },
          { header: "Status", cell: (p) => <Badge color={statusColor[p.status]} variant={p.status === "active" ? "filled" : "light"}>{p.status}</Badge> },
          { header: "Stock", cell: (p) => <StockCell id={p.id} /> },
          {
            header: "Actions",
            cell: (p) => (
              <Group gap={4} wrap="nowrap">
                <Button size="compact-sm" variant="light" onClick={() => setEditing(p)} aria-label={`Edit ${p.name}`}>
                  Edit
                </Button>
                <Button size="compact-sm" variant="light" onClick={() => setStockOf(p)} aria-label={`Adjust the stock of ${p.name}`}>
                  Stock
                </Button>
              </Group>
            ),
          },
        ]}
        rowKey={(p) => p.id}
        empty="No product matches."
        more="Load more products"
      />
      <Modal opened={editing !== null} onClose={() => setEditing(null)} title={editing === "new" ? "New product" : editing ? `Edit ${editing.name}` : ""} size="lg">
        {editing !== null && <ProductForm product={editing === "new" ? null : editing} onDone={() => setEditing(null)} />}
      </Modal>
      <Modal opened={stockOf !== null} onClose={() => setStockOf(null)} title={stockOf ? `Stock of ${stockOf.name}` : ""}>
        {stockOf && <StockForm product={stockOf} onDone={() => setStockOf(null)} />}
      </Modal>
    </Page>
  );
}
