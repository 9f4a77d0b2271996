// Order states and failure reasons in words.
import { Badge } from "@mantine/core";
import type { Order } from "./shopApi";

const statusColor: Record<Order["status"], string> = {
  pending: "yellow.9",
  paid: "teal.9",
  fulfilled: "blue.8",
  shipped: "blue.8",
  delivered: "green.9",
  cancelled: "red.9",
  refunded: "gray.7",
};

export function OrderStatusBadge({ order, testId }: { order: Pick<Order, "status" | "id">; testId?: string }) {
  return (
    <Badge color={statusColor[order.status]} variant="filled" data-testid={testId} data-status={order.status}>
      {order.status}
    </Badge>
  );
}

/** Why an order was cancelled, as the customer should read it. */
export function failureText(reason: string | null | undefined): string | null {
  switch (reason) {
    case null:
    case undefined:
    case "":
      return null;
    case "payment_declined":
      return "Your card was declined. No money was taken; try another card.";
    case "insufficient_funds":
      return "The card was refused for insufficient funds. No money was taken.";
    case "payment_unavailable":
      return "The payment service could not be reached. No money was taken; please try again later.";
    case "capture_failed":
      return "The payment could not be completed and the authorization was released. No money was taken.";
    default:
      return `The order was cancelled (${reason.replace(/_/g, " ")}).`;
  }
}

export const paymentWords: Record<string, string> = {
  pending: "waiting for the payment",
  authorized: "authorized",
  captured: "paid",
  failed: "failed",
  voided: "released",
  partially_refunded: "partly refunded",
  refunded: "refunded",
};
