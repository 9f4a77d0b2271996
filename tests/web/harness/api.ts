/* The API side of a scenario: sign in as a demo user, make data a screen
 * will show (a product with stock, a customer, a service request), move the
 * test clock. Node's fetch, no browser: what a scenario prepares here is the
 * world the person finds, not something the test claims through the UI.
 * Every helper throws with the method, path, status and body of an answer it
 * did not expect, so a failed setup reads like the API's own words. */

export type Role = 'customer' | 'staff' | 'approver' | 'admin';

/* The demo users of `serviceflow seed` (public passwords, loopback only). */
export const DEMO: Record<Role, { email: string; password: string }> = {
  customer: { email: 'customer@serviceflow.local', password: 'customer-password-1' },
  staff: { email: 'staff@serviceflow.local', password: 'staff-password-1' },
  approver: { email: 'approver@serviceflow.local', password: 'approver-password-1' },
  admin: { email: 'admin@serviceflow.local', password: 'admin-password-1' },
};

/* What POST /auth/login and /auth/register answer. */
export interface Session {
  access_token: string;
  refresh_token: string;
  token_type: string;
  expires_in: number;
  user?: { id: string; email: string; role: string; name?: string };
  cart_id?: string;
}

export interface Product {
  id: string;
  sku: string;
  name: string;
  price: number;
  currency: string;
}

export interface Stock {
  product_id: string;
  on_hand: number;
  reserved: number;
  available: number;
}

let counter = 0;
/* A name no other test of this run (or an earlier run on a kept data dir) uses. */
export function unique(tag: string): string {
  counter += 1;
  return `${tag}-${process.pid}-${Date.now().toString(36)}-${counter}`;
}

export class Api {
  private sessions = new Map<Role, Session>();

  constructor(readonly baseURL: string) {}

  async call(
    method: string,
    path: string,
    opts: { body?: unknown; token?: string; headers?: Record<string, string>; raw?: string } = {},
  ): Promise<{ status: number; body: any; headers: Headers }> {
    const headers: Record<string, string> = { ...(opts.headers || {}) };
    let data: string | undefined = opts.raw;
    if (opts.body !== undefined) {
      data = JSON.stringify(opts.body);
      headers['Content-Type'] ??= 'application/json';
    }
    if (opts.token) headers.Authorization = 'Bearer ' + opts.token;
    const r = await fetch(this.baseURL + path, { method, headers, body: data });
    const text = await r.text();
    let body: any = text;
    if ((r.headers.get('content-type') || '').includes('json') && text) body = JSON.parse(text);
    return { status: r.status, body, headers: r.headers };
  }

  /* call(), and a 2xx answer's body; anything else throws. */
  async ok(method: string, path: string, opts: Parameters<Api['call']>[2] = {}): Promise<any> {
    const r = await this.call(method, path, opts);
    if (r.status < 200 || r.status > 299)
      throw new Error(`${method} ${path} -> ${r.status} ${JSON.stringify(r.body)}`);
    return r.body;
  }

  async login(email: string, password: string, cartToken?: string): Promise<Session> {
    const headers: Record<string, string> = cartToken ? { 'Cart-Token': cartToken } : {};
    return this.ok('POST', '/api/v1/auth/login', { body: { email, password }, headers });
  }

  /* A demo user's session, one login per role and test. */
  async as(role: Role): Promise<Session> {
    let s = this.sessions.get(role);
    if (!s) {
      s = await this.login(DEMO[role].email, DEMO[role].password);
      this.sessions.set(role, s);
    }
    return s;
  }

  async token(role: Role): Promise<string> {
    return (await this.as(role)).access_token;
  }

  /* A new customer of the test's own (no cart, no orders yet of anyone else's). */
  async newCustomer(name = 'Web Test Customer'): Promise<Session & { email: string; password: string }> {
    const email = unique('web') + '@example.com';
    const password = 'correct horse battery 1';
    const s = await this.ok('POST', '/api/v1/auth/register', { body: { email, password, name } });
    return { ...s, email, password };
  }

  /* An active product with `stock` units on hand, made by the demo admin:
   * a scenario that counts stock owns its product, so parallel tests never
   * move each other's numbers. */
  async newProduct(opts: { name?: string; price?: number; stock?: number; description?: string } = {}): Promise<Product> {
    const admin = await this.token('admin');
    const sku = unique('WEB').toUpperCase().replace(/[^A-Z0-9._-]/g, '-');
    const p: Product = await this.ok('POST', '/api/v1/products', {
      token: admin,
      body: {
        sku,
        name: opts.name || `Test mug ${sku.slice(-6)}`,
        description: opts.description || 'A product made by the web suite.',
        price: opts.price ?? 1290,
        currency: 'EUR',
        status: 'active',
      },
    });
    if (opts.stock ?? 5)
      await this.ok('POST', `/api/v1/inventory/${p.id}/adjustments`, {
        token: admin,
        body: { delta: opts.stock ?? 5, reason: 'web suite stock' },
      });
    return p;
  }

  async stock(productId: string): Promise<Stock> {
    return this.ok('GET', `/api/v1/inventory/${productId}`, { token: await this.token('admin') });
  }

  /* An order of `role` for one unit of a new product, paid with `card`
   * (a sandbox card: 4242… pays, 4000000000000002 is declined). The answer
   * is as placed (pending); the saga finishes it shortly after. */
  async newOrder(role: Role = 'customer', card = '4242424242424242'): Promise<any> {
    const product = await this.newProduct({ stock: 2 });
    return this.ok('POST', '/api/v1/orders', {
      token: await this.token(role),
      headers: { 'Idempotency-Key': unique('order') },
      body: { items: [{ product_id: product.id, quantity: 1 }], payment: { card_number: card } },
    });
  }

  async order(orderId: string, token: string): Promise<any> {
    return this.ok('GET', `/api/v1/orders/${orderId}`, { token });
  }

  /* Opens a service request as `role` (default the demo customer) and takes
   * the given actions in order (e.g. ['submit']). Returns the request. */
  async newRequest(type: string, title: string, data: object, actions: string[] = [], role: Role = 'customer') {
    const token = await this.token(role);
    const r = await this.ok('POST', '/api/v1/requests', { token, body: { type, title, data } });
    for (const action of actions)
      await this.ok('POST', `/api/v1/requests/${r.id}/transitions`, { token, body: { action } });
    return this.ok('GET', `/api/v1/requests/${r.id}`, { token });
  }

  /* Moves the test-clock server's clock forward (timers and SLAs fire as if
   * that time had passed). Returns the server's new "now". */
  async advanceClock(seconds: number): Promise<string> {
    const b = await this.ok('POST', '/api/v1/_test/clock', {
      token: await this.token('admin'),
      body: { advance_s: Math.round(seconds) },
    });
    return b.now;
  }
}
