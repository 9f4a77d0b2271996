// Every order (orders:read), newest first, by status or customer.
import { useState } from "react";
import { Anchor, Button, Center, Group, Loader, Paper, Select, Table, Text, TextInput } from "@mantine/core";
import { useDebouncedValue } from "@mantine/hooks";
import { useInfiniteQuery } from "@tanstack/react-query";
import { Link } from "react-router-dom";
import { api, unwrap } from "../../../api/client";
import { Page } from "../../../ui/Page";
import { QueryError } from "../../../ui/errors";
import { dateTime, money } from "../../../ui/format";
import { StatusBadge, orderStatuses } from "./orderWords";

export default function AdminOrdersPage() {
  const [status, setStatus] = useState<string | null>(null);
  const [customer, setCustomer] = useState("");
  const [dc] = useDebouncedValue(customer.trim(), 400);
  const orders = useInfiniteQuery({
    queryKey: ["admin-orders", { status, dc }],
    initialPageParam: undefined as string | undefined,
    queryFn: ({ pageParam }) =>
      unwrap(
        api.GET("/api/v1/orders", {
          params: { query: { limit: 50, ...(pageParam ? { cursor: pageParam } : {}), ...(status ? { status } : {}), ...(dc ? { customer_id: dc } : {}) } },
        }),
      ),
    getNextPageParam: (last) => last.next_cursor ?? undefined,
  });
  const items = orders.data?.pages.flatMap((p) => p.data) ?? [];
  return (
    <Page title="Orders">
      <Group align="end" wrap="wrap">
        <Select label="Status" placeholder="Any status" data={orderStatuses} value={status} onChange={setStatus} clearable w={180} />
        <TextInput label="Customer id" placeholder="usr_…" value={customer} onChange={(e) => setCustomer(e.currentTarget.value)} w={260} />
      </Group>
      {orders.isError && <QueryError error={orders.error} what="the orders" />}
      {orders.isPending ? (
        <Center py="xl">
          <Loader aria-label="Loading the orders" />
        </Center>
      ) : (
        <Paper withBorder style={{ overflowX: "auto" }} tabIndex={0}>
          <Table miw={720} data-testid="admin-order-list">
            <Table.Thead>
              <Table.Tr>
                <Table.Th>Order</Table.Th>
                <Table.Th>Customer</Table.Th>
                <Table.Th>Placed</Table.Th>
                <Table.Th>Total</Table.Th>
                <Table.Th>Status</Table.Th>
              </Table.Tr>
            </Table.Thead>
            <Table.Tbody>
              {items.map((o) => (
                <Table.Tr key={o.id}>
                  <Table.Td>
                    <Anchor component={Link} to={`/admin/orders/${o.id}`}>
                      {o.id}
                    </Anchor>
                    <Text size="xs">{o.items.map((i) => `${i.quantity} × ${i.name ?? i.product_id}`).join(", ")}</Text>
                  </Table.Td>
                  <Table.Td>
                    <code>{o.customer_id}</code>
                  </Table.Td>
                  <Table.Td>{dateTime(o.created_at)}</Table.Td>
                  <Table.Td>{money(o.total, o.currency)}</Table.Td>
                  <Table.Td>
                    <StatusBadge status={o.status} />
                    {!o.settled && (
                      <Text span size="xs" ml={4}>
                        (saga running)
                      </Text>
                    )}
                  </Table.Td>
                </Table.Tr>
              ))}
            </Table.Tbody>
          </Table>
          {items.length === 0 && (
            <Text p="md" role="status">
              No order matches.
            </Text>
          )}
        </Paper>
      )}
      {orders.hasNextPage && (
        <Center>
          <Button variant="default" onClick={() => void orders.fetchNextPage()} loading={orders.isFetchingNextPage}>
            Load more orders
          </Button>
        </Center>
      )}
    </Page>
  );
}
