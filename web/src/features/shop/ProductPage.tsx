// A product with its stock (live from `stock:<id>` for signed-in users) and
// "Add to cart".
import { Loading } from "../../ui/Loading";
import { useState } from "react";
import { Anchor, Badge, Button, Group, NumberInput, Paper, Stack, Text } from "@mantine/core";
import { Link, useParams } from "react-router-dom";
import { useSession } from "../../api/me";
import { Page } from "../../ui/Page";
import { QueryError, notifyOk, useFormErrors } from "../../ui/errors";
import { money } from "../../ui/format";
import { useAddToCart } from "./cart";
import { useProduct, useStock } from "./shopApi";

function StockLine({ id, stock }: { id: string; stock: ReturnType<typeof useStock> }) {
  const s = useSession();
  if (s.status !== "signed-in")
    return (
      <Text size="sm" c="dimmed">
        <Anchor component={Link} to={`/login?next=/products/${id}`}>
          Sign in
        </Anchor>{" "}
        to see the stock.
      </Text>
    );
  if (!stock.data) return <Loading inline label="Loading stock" />;
  const n = stock.data.available;
  return (
    <Group gap="xs" aria-live="polite">
      <Badge color={n > 0 ? "teal.9" : "red.9"} variant="filled" data-testid="stock-available" data-available={n}>
        {n > 0 ? `${n} in stock` : "Out of stock"}
      </Badge>
    </Group>
  );
}

export default function ProductPage() {
  const { id = "" } = useParams();
  const product = useProduct(id);
  const stock = useStock(id);
  const soldOut = stock.data !== undefined && stock.data.available <= 0;
  const add = useAddToCart();
  const [qty, setQty] = useState<number | string>(1);
  const errs = useFormErrors();

  if (product.isPending)
    return (
      <Loading label="Loading the product" />
    );
  if (product.isError) return <QueryError error={product.error} what="this product" />;
  const p = product.data;

  const onAdd = () => {
    errs.clear();
    add.mutate(
      { productId: p.id, quantity: Number(qty) || 1 },
      {
        onSuccess: () => notifyOk(`${p.name} is in your cart.`, "Added to cart"),
        onError: (e) => errs.setError(e),
      },
    );
  };

  return (
    <Page title={p.name}>
      <Anchor component={Link} to="/">
        ← Back to the shop
      </Anchor>
      <Paper withBorder p="lg">
        <Stack>
          <Text>{p.description}</Text>
          <Text size="xl" fw={700}>
            {money(p.price, p.currency)}
          </Text>
          <Text size="sm" c="dimmed">
            SKU {p.sku}
          </Text>
          <StockLine id={p.id} stock={stock} />
          <Group align="flex-end" wrap="wrap">
            <NumberInput
              label="Quantity"
              min={1}
              max={1000}
              value={qty}
              onChange={setQty}
              w={120}
              error={errs.fieldError("quantity")}
            />
            <Button onClick={onAdd} loading={add.isPending} disabled={soldOut} data-testid="add-to-cart">
              Add to cart
            </Button>
          </Group>
          {errs.error && !errs.fieldError("quantity") && (
            <Text c="red.9" role="alert">
              {errs.fieldError("product_id") || errs.error.detail || errs.error.title}
            </Text>
          )}
        </Stack>
      </Paper>
    </Page>
  );
}
