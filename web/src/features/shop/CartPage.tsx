// The cart: lines with quantity and remove, price changes to accept, the
// subtotal and the way to checkout (sign-in first for a guest).
import { Loading } from "../../ui/Loading";
import { Alert, Anchor, Button, Group, NumberInput, Paper, Stack, Table, Text } from "@mantine/core";
import { Link } from "react-router-dom";
import { useSession } from "../../api/me";
import { Page } from "../../ui/Page";
import { QueryError } from "../../ui/errors";
import { money } from "../../ui/format";
import { useCart, useRemoveLine, useSetLine, type Cart, type CartLine } from "./cart";

function LineRow({ cart, line }: { cart: Cart; line: CartLine }) {
  const setLine = useSetLine();
  const remove = useRemoveLine();
  const cur = cart.currency;
  const name = line.name ?? line.product_id;
  return (
    <Table.Tr>
      <Table.Td>
        <Anchor component={Link} to={`/products/${line.product_id}`}>
          {name}
        </Anchor>
        {line.available === false && (
          <Text size="sm" c="red.9">
            No longer for sale: remove it to check out.
          </Text>
        )}
        {line.price_changed && line.current_price != null && (
          <Group gap="xs">
            <Text size="sm" c="orange.9">
              Price now {money(line.current_price, cur)} (was {money(line.unit_price, cur)}).
            </Text>
            <Button
              size="compact-xs"
              variant="light"
              onClick={() => setLine.mutate({ cartId: cart.id, productId: line.product_id, quantity: line.quantity })}
            >
              Accept new price
            </Button>
          </Group>
        )}
      </Table.Td>
      <Table.Td>{money(line.unit_price, cur)}</Table.Td>
      <Table.Td>
        <NumberInput
          aria-label={`Quantity of ${name}`}
          min={0}
          max={1000}
          defaultValue={line.quantity}
          key={`${line.product_id}-${line.quantity}`}
          w={90}
          onBlur={(e) => {
            const q = Number(e.currentTarget.value);
            if (Number.isInteger(q) && q !== line.quantity)
              setLine.mutate({ cartId: cart.id, productId: line.product_id, quantity: q });
          }}
        />
      </Table.Td>
      <Table.Td>{money(line.line_total, cur)}</Table.Td>
      <Table.Td>
        <Button
          variant="subtle"
          color="red"
          size="compact-sm"
          onClick={() => remove.mutate({ cartId: cart.id, productId: line.product_id })}
          aria-label={`Remove ${name}`}
        >
          Remove
        </Button>
      </Table.Td>
    </Table.Tr>
  );
}

function CheckoutButton({ cart }: { cart: Cart }) {
  const s = useSession();
  if (cart.needs_review)
    return (
      <Button size="md" disabled data-testid="checkout-button">
        Checkout
      </Button>
    );
  const signedIn = s.status === "signed-in";
  return (
    <Button
      component={Link}
      to={signedIn ? "/checkout" : "/login?next=/checkout"}
      size="md"
      data-testid="checkout-button"
    >
      {signedIn ? "Checkout" : "Sign in to check out"}
    </Button>
  );
}

export default function CartPage() {
  const cart = useCart();
  if (cart.isPending)
    return (
      <Loading label="Loading the cart" />
    );
  const c = cart.data;
  return (
    <Page title="Cart">
      {cart.isError && <QueryError error={cart.error} what="your cart" />}
      {!c || c.items.length === 0 ? (
        <Text role="status">
          Your cart is empty.{" "}
          <Anchor component={Link} to="/">
            Browse the shop
          </Anchor>
        </Text>
      ) : (
        <Stack>
          {c.needs_review && (
            <Alert color="orange" title="Some lines changed">
              A price moved or a product is no longer for sale. Accept the new price or remove the line.
            </Alert>
          )}
          <Paper withBorder style={{ overflowX: "auto" }} tabIndex={0} role="region" aria-label="Cart lines">
            <Table verticalSpacing="sm" miw={520} data-testid="cart-lines">
              <Table.Thead>
                <Table.Tr>
                  <Table.Th>Product</Table.Th>
                  <Table.Th>Price</Table.Th>
                  <Table.Th>Quantity</Table.Th>
                  <Table.Th>Total</Table.Th>
                  <Table.Th>
                    <span className="visually-hidden">Actions</span>
                  </Table.Th>
                </Table.Tr>
              </Table.Thead>
              <Table.Tbody>
                {c.items.map((l) => (
                  <LineRow key={l.product_id} cart={c} line={l} />
                ))}
              </Table.Tbody>
            </Table>
          </Paper>
          <Group justify="space-between" wrap="wrap">
            <Text size="lg" fw={700} data-testid="cart-subtotal">
              Subtotal: {money(c.subtotal, c.currency)}
            </Text>
            <CheckoutButton cart={c} />
          </Group>
        </Stack>
      )}
    </Page>
  );
}
