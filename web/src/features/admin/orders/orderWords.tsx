// Order statuses and the saga's events in words, for the admin screens.
import { Badge } from "@mantine/core";
import type { components } from "../../../api/schema";
import { money } from "../../../ui/format";

export type Order = components["schemas"]["Order"];
export type OrderEvent = components["schemas"]["Event"];

const statusColor: Record<Order["status"], string> = {
  pending: "yellow.9",
  paid: "teal.9",
  fulfilled: "blue.8",
  shipped: "blue.8",
  delivered: "green.9",
  cancelled: "red.8",
  refunded: "gray.7",
};

export const orderStatuses = Object.keys(statusColor) as Order["status"][];

export function StatusBadge({ status }: { status: Order["status"] }) {
  return (
    <Badge color={statusColor[status]} variant="filled" data-status={status}>
      {status}
    </Badge>
  );
}

type Data = Record<string, unknown>;
const s = (v: unknown) => (v == null ? "" : String(v));

/** One saga or lifecycle step: what happened, and whether it went wrong. */
export function stepOf(ev: OrderEvent, currency: string): { title: string; detail: string; bad: boolean } {
  const d = (ev.data ?? {}) as Data;
  const amt = (v: unknown) => (typeof v === "number" ? money(v, currency) : "");
  switch (ev.type) {
    case "order.placed":
      return { title: "Order placed", detail: `stock held, card ending ${s(d.card_last4)}, total ${amt(d.total)}`, bad: false };
    case "payment.authorized":
      return { title: "Payment authorized", detail: amt(d.amount), bad: false };
    case "payment.retry_scheduled":
      return { title: `Retry of ${s(d.step)} scheduled`, detail: `attempt ${s(d.attempt)}: ${s(d.message)}`, bad: true };
    case "payment.captured":
      return { title: "Payment captured", detail: amt(d.amount), bad: false };
    case "order.paid":
      return { title: "Paid", detail: "stock sold", bad: false };
    case "payment.failed":
      return { title: `Payment failed at ${s(d.step)}`, detail: `${s(d.outcome)}${d.message ? `: ${s(d.message)}` : ""}`, bad: true };
    case "payment.capture_failed":
      return { title: "Capture failed: compensating", detail: `${s(d.outcome)}${d.message ? `: ${s(d.message)}` : ""}`, bad: true };
    case "payment.void_pending":
      return { title: "Void pending (compensation)", detail: `${s(d.cause).replace(/_/g, " ")}: retried until the provider answers`, bad: true };
    case "payment.voided":
      return { title: "Authorization voided (compensation)", detail: s(d.outcome), bad: false };
    case "order.cancelled":
      return { title: "Cancelled", detail: s(d.reason).replace(/_/g, " "), bad: true };
    case "order.fulfilled":
      return { title: "Fulfilled", detail: "", bad: false };
    case "order.shipped":
      return { title: "Shipped", detail: "", bad: false };
    case "order.delivered":
      return { title: "Delivered", detail: "", bad: false };
    case "order.refund_requested":
      return { title: "Refund requested", detail: amt(d.amount), bad: false };
    case "payment.refunded":
      return { title: "Refund paid out", detail: `${amt(d.amount)} (refunded in all: ${amt(d.refunded_total)})`, bad: false };
    case "payment.refund_failed":
      return { title: "Refund refused by the provider", detail: `${amt(d.amount)}: ${s(d.message)}`, bad: true };
    case "order.refunded":
      return { title: "Order refunded", detail: amt(d.amount), bad: false };
    default:
      return { title: ev.type, detail: "", bad: false };
  }
}
