// "My orders": newest first, cursor paging.
import { Anchor, Button, Center, Paper, Table, Text } from "@mantine/core";
import { Link } from "react-router-dom";
import { Page } from "../../ui/Page";
import { QueryError } from "../../ui/errors";
import { dateTime, money } from "../../ui/format";
import { useOrders } from "./shopApi";
import { OrderStatusBadge } from "./words";
import { Loading } from "../../ui/Loading";

export default function OrdersPage() {
  const orders = useOrders();
  const items = orders.items;
  return (
    <Page title="My orders">
      {orders.isError && <QueryError error={orders.error} what="your orders" />}
      {orders.isPending ? (
        <Loading label="Loading orders" />
      ) : items.length === 0 ? (
        <Text role="status">
          No orders yet. <Anchor component={Link} to="/">Browse the shop</Anchor>
        </Text>
      ) : (
        <Paper withBorder style={{ overflowX: "auto" }} tabIndex={0} role="region" aria-label="Orders">
          <Table verticalSpacing="sm" miw={420} data-testid="order-list">
            <Table.Thead>
              <Table.Tr>
                <Table.Th>Order</Table.Th>
                <Table.Th>Placed</Table.Th>
                <Table.Th>Total</Table.Th>
                <Table.Th>Status</Table.Th>
              </Table.Tr>
            </Table.Thead>
            <Table.Tbody>
              {items.map((o) => (
                <Table.Tr key={o.id}>
                  <Table.Td>
                    <Anchor component={Link} to={`/orders/${o.id}`}>
                      {o.items.map((i) => i.name ?? i.product_id).join(", ") || o.id}
                    </Anchor>
                  </Table.Td>
                  <Table.Td>{dateTime(o.created_at)}</Table.Td>
                  <Table.Td>{money(o.total, o.currency)}</Table.Td>
                  <Table.Td>
                    <OrderStatusBadge order={o} />
                  </Table.Td>
                </Table.Tr>
              ))}
            </Table.Tbody>
          </Table>
        </Paper>
      )}
      {orders.hasNextPage && (
        <Center>
          <Button variant="default" onClick={() => void orders.fetchNextPage()} loading={orders.isFetchingNextPage}>
            Show more
          </Button>
        </Center>
      )}
    </Page>
  );
}
