// One order: status live from `order:<id>`, payment, why it was cancelled,
// refunds, and the order's history.
import { Alert, Anchor, Button, Group, Loader, Paper, Stack, Table, Text, Timeline } from "@mantine/core";
import { useState } from "react";
import { Link, useNavigate, useParams } from "react-router-dom";
import { Page } from "../../ui/Page";
import { QueryError, notifyError } from "../../ui/errors";
import { dateTime, money } from "../../ui/format";
import { useAddToCart } from "./cart";
import { useOrder, useOrderEvents, type Order } from "./shopApi";
import { OrderStatusBadge, failureText, paymentWords } from "./words";
import { Loading } from "../../ui/Loading";

const eventWords: Record<string, string> = {
  "order.placed": "Order placed",
  "payment.authorized": "Payment authorized",
  "payment.retry_scheduled": "Payment retried",
  "payment.captured": "Payment captured",
  "order.paid": "Paid",
  "payment.failed": "Payment failed",
  "payment.capture_failed": "Capture failed",
  "payment.void_pending": "Releasing the authorization",
  "payment.voided": "Authorization released",
  "order.cancelled": "Cancelled",
  "order.fulfilled": "Packed",
  "order.shipped": "Shipped",
  "order.delivered": "Delivered",
  "order.refund_requested": "Refund requested",
  "payment.refunded": "Refunded",
  "payment.refund_failed": "Refund failed",
  "order.refunded": "Fully refunded",
};

function History({ order }: { order: Order }) {
  const events = useOrderEvents(order.id, order.version);
  const list = events.data?.data ?? [];
  if (!list.length) return null;
  return (
    <Paper withBorder p="md">
      <Text fw={600} mb="sm" component="h2" size="md">
        History
      </Text>
      <Timeline bulletSize={12} lineWidth={2} active={list.length - 1}>
        {list.map((e) => {
          const amount = (e.data as Record<string, unknown>).amount;
          return (
            <Timeline.Item key={e.id} title={eventWords[e.type] ?? e.type}>
              <Text size="xs" c="dimmed">
                {dateTime(e.at)}
                {typeof amount === "number" && e.type.includes("refund") ? ` · ${money(amount, order.currency)}` : ""}
              </Text>
            </Timeline.Item>
          );
        })}
      </Timeline>
    </Paper>
  );
}

/** After a failed payment the cart is spent: offer to put the lines back and pay again. */
function Reorder({ order }: { order: Order }) {
  const add = useAddToCart();
  const nav = useNavigate();
  const [busy, setBusy] = useState(false);
  const again = async () => {
    setBusy(true);
    try {
      for (const i of order.items) await add.mutateAsync({ productId: i.product_id, quantity: i.quantity });
      nav("/checkout");
    } catch (e) {
      notifyError(e, "Could not put the items back");
    } finally {
      setBusy(false);
    }
  };
  return (
    <Button variant="default" onClick={() => void again()} loading={busy} w="fit-content" data-testid="reorder">
      Put the items back in the cart and pay again
    </Button>
  );
}

function Refunds({ order }: { order: Order }) {
  const refunded = order.payment.refunded ?? 0;
  if (refunded <= 0 && order.status !== "refunded") return null;
  return (
    <Alert color="gray" title="Refund" data-testid="order-refund">
      {money(refunded, order.currency)} of {money(order.payment.captured ?? order.total, order.currency)} refunded to the
      card{order.payment.card_last4 ? ` ending ${order.payment.card_last4}` : ""}.
    </Alert>
  );
}

export default function OrderPage() {
  const { id = "" } = useParams();
  const order = useOrder(id);
  if (order.isPending)
    return (
      <Loading label="Loading the order" />
    );
  if (order.isError) return <QueryError error={order.error} what="this order" />;
  const o = order.data;
  const failure = failureText(o.failure_reason);
  return (
    <Page title={`Order ${o.id}`}>
      <Anchor component={Link} to="/orders">
        ← My orders
      </Anchor>
      <Group gap="sm" aria-live="polite">
        <Text>Status:</Text>
        <OrderStatusBadge order={o} testId="order-status" />
        {!o.settled && o.status === "pending" && (
          <Group gap={4}>
            <Loader size="xs" aria-hidden="true" />
            <Text size="sm">Waiting for the payment…</Text>
          </Group>
        )}
      </Group>
      {failure && (
        <Alert color="red" title="Payment failed" role="alert" data-testid="order-failure">
          {failure}
        </Alert>
      )}
      {o.status === "cancelled" && <Reorder order={o} />}
      <Refunds order={o} />
      <Paper withBorder style={{ overflowX: "auto" }} tabIndex={0} role="region" aria-label="Order lines">
        <Table verticalSpacing="sm" miw={400}>
          <Table.Thead>
            <Table.Tr>
              <Table.Th>Product</Table.Th>
              <Table.Th>Price</Table.Th>
              <Table.Th>Quantity</Table.Th>
              <Table.Th>Subtotal</Table.Th>
            </Table.Tr>
          </Table.Thead>
          <Table.Tbody>
            {o.items.map((i) => (
              <Table.Tr key={i.product_id}>
                <Table.Td>{i.name ?? i.product_id}</Table.Td>
                <Table.Td>{money(i.unit_price, o.currency)}</Table.Td>
                <Table.Td>{i.quantity}</Table.Td>
                <Table.Td>{money(i.subtotal, o.currency)}</Table.Td>
              </Table.Tr>
            ))}
          </Table.Tbody>
        </Table>
      </Paper>
      <Stack gap={4}>
        <Text fw={700}>Total {money(o.total, o.currency)}</Text>
        <Text size="sm">
          Payment: {paymentWords[o.payment.status] ?? o.payment.status}
          {o.payment.card_last4 ? ` · card ending ${o.payment.card_last4}` : ""}
        </Text>
        <Text size="sm" c="dimmed">
          Placed {dateTime(o.created_at)}
        </Text>
      </Stack>
      <History order={o} />
    </Page>
  );
}
