// Every order (orders:read), newest first, by status or customer.
import { useState } from "react";
import { Anchor, Group, Select, Text, TextInput } from "@mantine/core";
import { useDebouncedValue } from "@mantine/hooks";
import { Link } from "react-router-dom";
import { api, unwrap } from "../../../api/client";
import { pageQuery, useCursorList } from "../../../api/lists";
import type { components } from "../../../api/schema";
import { CursorTable } from "../../../ui/CursorTable";
import { Page } from "../../../ui/Page";
import { dateTime, money } from "../../../ui/format";
import { StatusBadge, orderStatuses } from "./orderWords";

type Order = components["schemas"]["Order"];

function OrderCell({ o }: { o: Order }) {
  return (
    <>
      <Anchor component={Link} to={`/admin/orders/${o.id}`}>
        {o.id}
      </Anchor>
      <Text size="xs">{o.items.map((i) => `${i.quantity} × ${i.name ?? i.product_id}`).join(", ")}</Text>
    </>
  );
}

function StatusCell({ o }: { o: Order }) {
  return (
    <>
      <StatusBadge status={o.status} />
      {!o.settled && (
        <Text span size="xs" ml={4}>
          (saga running)
        </Text>
      )}
    </>
  );
}

export default function AdminOrdersPage() {
  const [status, setStatus] = useState<string | null>(null);
  const [customer, setCustomer] = useState("");
  const [dc] = useDebouncedValue(customer.trim(), 400);
  const orders = useCursorList({
    queryKey: ["admin-orders", { status, dc }],
    fetchPage: (cursor) =>
      unwrap(api.GET("/api/v1/orders", { params: { query: pageQuery(50, cursor, { status, customer_id: dc }) } })),
  });
  return (
    <Page title="Orders">
      <Group align="end" wrap="wrap">
        <Select label="Status" placeholder="Any status" data={orderStatuses} value={status} onChange={setStatus} clearable w={180} />
        <TextInput label="Customer id" placeholder="usr_…" value={customer} onChange={(e) => setCustomer(e.currentTarget.value)} w={260} />
      </Group>
      <CursorTable list={orders} what="the orders" minWidth={720} testId="admin-order-list"
        columns={[
          { header: "Order", cell: (o) => <OrderCell o={o} /> },
          { header: "Customer", cell: (o) => <code>{o.customer_id}</code> },
          { header: "Placed", cell: (o) => dateTime(o.created_at) },
          { header: "Total", cell: (o) => money(o.total, o.currency) },
          { header: "Status", cell: (o) => <StatusCell o={o} /> },
        ]}
        rowKey={(o) => o.id}
        empty="No order matches."
        more="Load more orders"
      />
    </Page>
  );
}
