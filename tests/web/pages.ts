/* Every page of the app, per role: the accessibility scan (specs/a11y.spec.ts)
 * visits each one signed in as that role, `make screenshots` photographs the
 * ones with a `shot` name, and bench/lighthouse.sh measures the ones it names.
 *
 * Adding a page: one line in its role's list.
 *   { name: 'order detail', path: async (api) => `/orders/${(await api.someOrder()).id}` }
 *   - path:  a fixed path, or a function of the API helper (harness/api.ts) that
 *            makes or finds the data the page shows and returns its path;
 *   - shot:  a file name for docs/screenshots/<shot>-{desktop,phone}.png;
 *   - fixme: the reason it is not testable yet (the screen is not built): the
 *            scan lists it as fixme instead of failing; delete it when the screen lands.
 * Roles: guest (not signed in), customer, agent (the demo staff user), approver, admin. */
import type { Api, Role } from './harness/api';

export type PageRole = 'guest' | 'customer' | 'agent' | 'approver' | 'admin';

export interface AppPage {
  name: string;
  path: string | ((api: Api) => Promise<string>);
  shot?: string;
  fixme?: string;
}

/* Who signs in for each role of this list (undefined: nobody). */
export const ROLE_USER: Record<PageRole, Role | undefined> = {
  guest: undefined,
  customer: 'customer',
  agent: 'staff',
  approver: 'approver',
  admin: 'admin',
};

const firstProduct = async (api: Api) => {
  const list = await api.ok('GET', '/api/v1/products?limit=1');
  return `/products/${list.data[0].id}`;
};

/* A service request of the demo desk (scripts/seed_desk.py) by title, on the
 * agents' desk (web/src/features/desk: /desk/requests/:id). */
const seededRequest = (title: string, role: Role) => async (api: Api) => {
  const q = encodeURIComponent(title.split(' ')[0]);
  const list = await api.ok('GET', `/api/v1/requests?q=${q}&limit=50`, { token: await api.token(role) });
  const r = list.data.find((x: { title: string }) => x.title === title);
  if (!r) throw new Error(`no seeded request "${title}" visible to ${role}`);
  return `/desk/requests/${r.id}`;
};

/* The same request as its requester sees it in the service portal (web/src/features/portal). */
const portalRequest = (title: string) => async (api: Api) =>
  (await seededRequest(title, 'customer')(api)).replace('/desk/requests/', '/portal/requests/');

export const PAGES: Record<PageRole, AppPage[]> = {
  guest: [
    { name: 'storefront', path: '/', shot: 'storefront' },
    { name: 'product', path: firstProduct, shot: 'product' },
    { name: 'cart', path: '/cart' },
    { name: 'sign in', path: '/login' },
  ],
  customer: [
    { name: 'storefront', path: '/' },
    { name: 'product with stock', path: firstProduct },
    { name: 'checkout', path: '/checkout' },
    { name: 'orders', path: '/orders', shot: 'orders' },
    { name: 'order detail', path: async (api) => `/orders/${(await api.newOrder('customer')).id}`, shot: 'order' },
    { name: 'profile', path: '/account', shot: 'profile' },
    { name: 'notifications', path: '/account/notifications', shot: 'notifications' },
    { name: 'security (password, MFA)', path: '/account/security' },
    { name: 'service portal', path: '/portal', shot: 'portal' },
    { name: 'new purchase request (generated form)', path: '/portal/new/purchase', shot: 'request-form' },
    { name: 'new incident (generated form)', path: '/portal/new/incident' },
    { name: 'my requests', path: '/portal/requests', shot: 'my-requests' },
    { name: 'my request detail', path: portalRequest('Conference tickets (3 people)'), shot: 'my-request' },
  ],
  agent: [
    { name: 'desk', path: '/desk', shot: 'queue' },
    { name: 'desk, incidents breached', path: '/desk?type=incident&sla=breached' },
    { name: 'request detail', path: seededRequest('VPN drops every hour', 'staff'), shot: 'request-detail' },
    { name: 'approvals inbox (finance)', path: '/desk/approvals' },
  ],
  approver: [
    { name: 'approvals inbox', path: '/desk/approvals', shot: 'approvals' },
    { name: 'request to decide', path: seededRequest('Catering for the team offsite', 'approver') },
  ],
  admin: [
    { name: 'workflows', path: '/admin/workflows', shot: 'admin-workflows' },
    { name: 'workflow editor', path: '/admin/workflows/purchase', shot: 'admin-workflow-editor' },
    { name: 'new workflow', path: '/admin/workflows/new' },
    { name: 'users and roles', path: '/admin/users', shot: 'admin-users' },
    { name: 'catalog and inventory', path: '/admin/catalog', shot: 'admin-catalog' },
    { name: 'all orders', path: '/admin/orders' },
    { name: 'order with saga steps', path: async (api) => `/admin/orders/${(await api.newOrder('customer')).id}`, shot: 'admin-order' },
    { name: 'webhooks', path: '/admin/webhooks' },
    { name: 'mail templates', path: '/admin/mail', shot: 'admin-mail' },
    { name: 'system', path: '/admin/system', shot: 'admin-system' },
  ],
};

/* The pages bench/lighthouse.sh measures (role, name in PAGES). */
export const LIGHTHOUSE_PAGES: Array<[PageRole, string]> = [
  ['guest', 'storefront'],
  ['agent', 'request detail'],
  ['approver', 'approvals inbox'],
];
