// The navigation, by area: an item is shown only to the roles of its area
// (guests see the public shop items).
import type { Area } from "../api/me";

export interface NavItem {
  label: string;
  to: string;
  area: Area;
  /** Shown to guests too (the public catalog). */
  public?: boolean;
}

export const navItems: NavItem[] = [
  { label: "Shop", to: "/", area: "shop", public: true },
  { label: "Cart", to: "/cart", area: "shop", public: true },
  { label: "My orders", to: "/orders", area: "shop" },
  { label: "Service portal", to: "/portal", area: "portal" },
  { label: "Desk", to: "/desk", area: "desk" },
  { label: "Approvals", to: "/desk/approvals", area: "approvals" },
  { label: "Admin", to: "/admin", area: "admin" },
];
