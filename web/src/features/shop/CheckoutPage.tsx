// Checkout: pay the cart with a card (the sandbox's test cards are listed),
// then follow the order, whose status turns paid (or cancelled) live.
import { Loading } from "../../ui/Loading";
import { useMemo, useState, type FormEvent } from "react";
import { Alert, Anchor, Button, Code, Group, List, Paper, Stack, Text, TextInput } from "@mantine/core";
import { useMutation, useQueryClient } from "@tanstack/react-query";
import { Link, useNavigate } from "react-router-dom";
import { api, idempotencyKey, unwrap } from "../../api/client";
import { ApiError } from "../../api/problem";
import { Page } from "../../ui/Page";
import { FormAlert, QueryError, useFormErrors } from "../../ui/errors";
import { money } from "../../ui/format";
import { cartKey, useCart, type Cart } from "./cart";

const sandboxCards = [
  { number: "4242424242424242", outcome: "paid" },
  { number: "4000000000000002", outcome: "declined" },
  { number: "4000000000009995", outcome: "insufficient funds" },
  { number: "4000000000000119", outcome: "paid after two retries" },
  { number: "4000000000000341", outcome: "capture declined, cancelled" },
];

/** items[i].… errors name cart lines by position: say which product. */
function lineProblems(err: ApiError | null, cart: Cart): string[] {
  if (!err) return [];
  return Object.entries(err.fieldErrors).flatMap(([k, v]) => {
    const m = /^items\[(\d+)\]/.exec(k);
    if (!m) return [];
    const line = cart.items[Number(m[1])];
    return [`${line?.name ?? `Line ${Number(m[1]) + 1}`}: ${v}`];
  });
}

export default function CheckoutPage() {
  const cart = useCart();
  const qc = useQueryClient();
  const nav = useNavigate();
  const [card, setCard] = useState("");
  const errs = useFormErrors();
  // One key per card number: a retry after a lost answer gets the same order.
  const key = useMemo(() => idempotencyKey(), [card]); // eslint-disable-line react-hooks/exhaustive-deps
  const pay = useMutation({
    meta: { form: true },
    mutationFn: (c: Cart) =>
      unwrap(
        api.POST("/api/v1/carts/{id}/checkout", {
          params: { path: { id: c.id }, header: { "Idempotency-Key": key } },
          body: { payment: { card_number: card.replace(/[\s-]/g, "") } },
        }),
      ),
    onSuccess: (order) => {
      qc.setQueryData(["order", order.id], order);
      void qc.invalidateQueries({ queryKey: cartKey() });
      void qc.invalidateQueries({ queryKey: ["orders"] });
      nav(`/orders/${order.id}`);
    },
    onError: (e) => errs.setError(e),
  });

  if (cart.isPending)
    return (
      <Loading label="Loading the cart" />
    );
  if (cart.isError) return <QueryError error={cart.error} what="your cart" />;
  const c = cart.data;
  if (!c || c.items.length === 0)
    return (
      <Page title="Checkout">
        <Text>
          Your cart is empty. <Anchor component={Link} to="/">Browse the shop</Anchor>
        </Text>
      </Page>
    );

  const submit = (e: FormEvent) => {
    e.preventDefault();
    errs.clear();
    pay.mutate(c);
  };
  const lines = lineProblems(errs.error, c);

  return (
    <Page title="Checkout">
      <Paper withBorder p="lg" maw={560}>
        <form onSubmit={submit} noValidate aria-label="Payment">
          <Stack>
            <Text>
              {c.item_count} item{c.item_count === 1 ? "" : "s"}, total{" "}
              <strong data-testid="checkout-total">{money(c.subtotal, c.currency)}</strong>
            </Text>
            {lines.length === 0 && <FormAlert error={errs.error} fields={["payment"]} />}
            {lines.length > 0 && (
              <Alert color="orange" title={errs.error?.title ?? "Check these lines"} role="alert" data-testid="form-error">
                <List size="sm">
                  {lines.map((l) => (
                    <List.Item key={l}>{l}</List.Item>
                  ))}
                </List>
                <Anchor component={Link} to="/cart">
                  Back to the cart
                </Anchor>
              </Alert>
            )}
            <TextInput
              label="Card number"
              name="card_number"
              autoComplete="cc-number"
              inputMode="numeric"
              required
              value={card}
              onChange={(e) => setCard(e.currentTarget.value)}
              error={errs.fieldError("payment.card_number") ?? errs.fieldError("payment")}
              data-testid="card-number"
            />
            <Button type="submit" loading={pay.isPending} size="md" data-testid="pay-button">
              Pay {money(c.subtotal, c.currency)}
            </Button>
          </Stack>
        </form>
      </Paper>
      <Paper withBorder p="md" maw={560}>
        <Text fw={600} mb="xs">
          Sandbox test cards
        </Text>
        <Stack gap={4}>
          {sandboxCards.map((s) => (
            <Group key={s.number} gap="xs" wrap="wrap">
              <Code>{s.number}</Code>
              <Text size="sm">{s.outcome}</Text>
              <Button size="compact-xs" variant="light" onClick={() => setCard(s.number)} aria-label={`Use card ${s.number}`}>
                Use
              </Button>
            </Group>
          ))}
        </Stack>
      </Paper>
    </Page>
  );
}
