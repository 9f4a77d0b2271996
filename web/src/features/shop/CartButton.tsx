import { Button, Indicator } from "@mantine/core";
import { Link } from "react-router-dom";
import { useCart } from "./cart";

/** The header's cart link with the number of items. */
export function CartButton() {
  const cart = useCart();
  const n = cart.data?.item_count ?? 0;
  return (
    <Indicator label={n} size={18} color="red.9" disabled={n === 0} offset={4}>
      <Button
        component={Link}
        to="/cart"
        variant="subtle"
        size="sm"
        px="xs"
        aria-label={n ? `Cart, ${n} items` : "Cart, empty"}
        data-testid="cart-button"
      >
        <svg width="20" height="20" viewBox="0 0 24 24" aria-hidden="true" fill="none" stroke="currentColor" strokeWidth="2">
          <circle cx="9" cy="21" r="1" />
          <circle cx="20" cy="21" r="1" />
          <path d="M1 1h4l2.7 13.4a2 2 0 0 0 2 1.6h9.7a2 2 0 0 0 2-1.6L23 6H6" />
        </svg>
      </Button>
    </Indicator>
  );
}
