/* Issue 14, Quality (1) and (2): the shop in the browser.
 * Each test owns a product made through the API (harness/api.ts newProduct),
 * so its stock is not moved by the tests running beside it. */
import { test, expect } from '../harness/fixtures';

test('a guest adds to the cart, signs in, pays with 4242… and sees "paid" appear live', async ({
  page,
  api,
  noReload,
}) => {
  const name = `Live-paid teapot ${Date.now().toString(36)}`; // one of its kind, also on a reused server
  const product = await api.newProduct({ name, price: 2450, stock: 3 });
  const customer = await api.newCustomer();

  // a guest: the catalog, the product, the cart
  await page.goto('/');
  await page.getByLabel('Search products').fill(name);
  await page.getByRole('button', { name: 'Search' }).click();
  await page.getByRole('link', { name }).click();
  await expect(page.getByRole('heading', { level: 1, name: product.name })).toBeVisible();
  await page.getByRole('button', { name: 'Add to cart' }).click();
  await expect(page.getByRole('link', { name: /^Cart, 1 item/ })).toBeVisible();
  await page.getByRole('link', { name: /^Cart, 1 item/ }).click();
  await expect(page.getByTestId('cart-lines')).toContainText(product.name);

  // signing in keeps the guest's cart (Cart-Token on the login)
  await page.getByRole('link', { name: 'Sign in to check out' }).click();
  await page.getByLabel('E-mail').fill(customer.email);
  await page.getByRole('textbox', { name: 'Password', exact: true }).fill(customer.password);
  await page.getByTestId('login-submit').click();
  await expect(page.getByRole('heading', { level: 1, name: 'Checkout' })).toBeVisible();
  await expect(page.getByTestId('checkout-total')).toHaveText(/24[.,]50/);

  // pay; from here on the page is never loaded again
  await noReload.arm(page);
  await page.getByLabel('Card number').fill('4242 4242 4242 4242');
  await page.getByRole('button', { name: /^Pay / }).click();
  await expect(page).toHaveURL(/\/orders\/ord_/);
  const status = page.getByTestId('order-status');
  await expect(status).toHaveAttribute('data-status', 'paid', { timeout: 20_000 });
  await expect(status).toHaveText('paid');
  await noReload.check(page);

  // the server agrees
  const orderId = page.url().split('/orders/')[1];
  expect((await api.order(orderId, customer.access_token)).status).toBe('paid');
});

test('a declined card shows the reason in words and the stock is back', async ({ page, api, signIn }) => {
  const product = await api.newProduct({ name: 'Declined-card kettle', price: 3900, stock: 4 });
  const before = await api.stock(product.id);
  expect(before.available).toBe(4);
  const customer = await api.newCustomer();
  await signIn(page, customer);

  await page.goto(`/products/${product.id}`);
  await expect(page.getByTestId('stock-available')).toHaveAttribute('data-available', String(before.available));
  await page.getByLabel('Quantity').fill('2');
  await page.getByRole('button', { name: 'Add to cart' }).click();
  await page.getByRole('link', { name: /^Cart, 2 items/ }).click();
  await page.getByRole('link', { name: 'Checkout' }).click();

  await page.getByLabel('Card number').fill('4000 0000 0000 0002');
  await page.getByRole('button', { name: /^Pay / }).click();
  await expect(page.getByTestId('order-status')).toHaveAttribute('data-status', 'cancelled', { timeout: 20_000 });
  const reason = page.getByRole('alert').filter({ hasText: 'declined' });
  await expect(reason).toContainText('Your card was declined');
  await expect(reason).not.toContainText('payment_declined'); // words, not the code

  // the two units held for the order are back: on the product page and in the API
  await page.goto(`/products/${product.id}`);
  await expect(page.getByTestId('stock-available')).toHaveAttribute('data-available', String(before.available));
  await expect(page.getByTestId('stock-available')).toHaveText(`${before.available} in stock`);
  const after = await api.stock(product.id);
  expect(after.available).toBe(before.available);
  expect(after.on_hand).toBe(before.on_hand);
  expect(after.reserved).toBe(before.reserved);
});

test('a retried payment is seen pending, then paid, without a reload', async ({ page, api, signIn, noReload }) => {
  // card 4000000000000119 fails twice (transient) and then pays; retries are 2 s apart on the
  // suite's server (harness/server.ts), so the order is pending in front of the customer first
  const product = await api.newProduct({ name: 'Retried-payment grinder', price: 6900, stock: 2 });
  await signIn(page, await api.newCustomer());
  await page.goto(`/products/${product.id}`);
  await page.getByRole('button', { name: 'Add to cart' }).click();
  await page.getByRole('link', { name: /^Cart, 1 item/ }).click();
  await page.getByRole('link', { name: 'Checkout' }).click();
  await noReload.arm(page);
  await page.getByLabel('Card number').fill('4000000000000119');
  await page.getByRole('button', { name: /^Pay / }).click();
  const status = page.getByTestId('order-status');
  await expect(status).toHaveAttribute('data-status', 'pending');
  await expect(page.getByText('Payment retried').first()).toBeVisible({ timeout: 20_000 });
  await expect(status).toHaveAttribute('data-status', 'paid', { timeout: 30_000 });
  await noReload.check(page);
});

test("a card number the API refuses is explained on the card field, in the API's words", async ({
  page,
  api,
  signIn,
}) => {
  const product = await api.newProduct({ name: 'Bad-card mug', stock: 2 });
  await signIn(page, await api.newCustomer());
  await page.goto(`/products/${product.id}`);
  await page.getByRole('button', { name: 'Add to cart' }).click();
  await page.getByRole('link', { name: /^Cart, 1 item/ }).click();
  await page.getByRole('link', { name: 'Checkout' }).click();
  const card = page.getByLabel('Card number');
  await card.fill('4242 4242 4242 4241'); // fails the Luhn check: 422 on payment.card_number
  await page.getByRole('button', { name: /^Pay / }).click();
  await expect(card).toHaveAttribute('aria-invalid', 'true');
  await expect(card).toHaveAccessibleDescription(/not a valid card number/);
  await expect(page).toHaveURL(/\/checkout$/); // no order was placed
  expect((await api.stock(product.id)).available).toBe(2);
});
