// The frame of every screen: skip link, header (app name, bell, user menu),
// navigation by role (a drawer below the `sm` breakpoint) and <main>.
import { Suspense } from "react";
import { AppShell, Burger, Button, Group, NavLink, Text } from "@mantine/core";
import { useDisclosure } from "@mantine/hooks";
import { Link, Outlet, useLocation } from "react-router-dom";
import { useMe } from "../api/me";
import { AccountButton } from "./AccountButton";
import { ErrorBoundary } from "./ErrorBoundary";
import { NotificationBell } from "./NotificationBell";
import { navItems } from "./nav";
import { HeaderExtras } from "./slots";
import { Loading } from "../ui/Loading";
import { useLoaded } from "./lazyPage";

function matches(path: string, to: string): boolean {
  return to === "/" ? path === "/" || path.startsWith("/products") : path === to || path.startsWith(`${to}/`);
}

/** The nav item for `path`: the longest that matches (/desk/approvals over /desk). */
function activeItem(path: string, tos: string[]): string | undefined {
  return tos.filter((to) => matches(path, to)).sort((a, b) => b.length - a.length)[0];
}

// The account menu (Menu, Popover, floating-ui: a third of the shell's code)
// loads once someone is signed in; until then its button is drawn as is.
const loadAccountMenu = () => import("./AccountMenu").then((m) => m.default);

function UserMenu() {
  const me = useMe();
  const loc = useLocation();
  const AccountMenu = useLoaded(loadAccountMenu, !!me.user);
  if (me.status === "loading") return <Loading inline label="Checking your session" />;
  if (!me.user)
    return (
      <Button
        component={Link}
        to={`/login?next=${encodeURIComponent(loc.pathname + loc.search)}`}
        variant="filled"
        size="sm"
      >
        Sign in
      </Button>
    );
  return AccountMenu ? <AccountMenu user={me.user} /> : <AccountButton user={me.user} />;
}

export function Shell() {
  const [opened, { toggle, close }] = useDisclosure(false);
  const me = useMe();
  const loc = useLocation();
  const items = navItems.filter((i) => (me.user ? me.can(i.area) : i.public));
  const active = activeItem(
    loc.pathname,
    items.map((i) => i.to),
  );
  return (
    <>
      <a className="skip-link" href="#main">
        Skip to main content
      </a>
      <AppShell
        header={{ height: 56 }}
        navbar={{ width: 220, breakpoint: "sm", collapsed: { mobile: !opened } }}
        padding="md"
      >
        <AppShell.Header>
          <Group h="100%" px="md" justify="space-between" wrap="nowrap" gap="xs">
            <Group gap="xs" wrap="nowrap">
              <Burger
                opened={opened}
                onClick={toggle}
                hiddenFrom="sm"
                size="sm"
                aria-label={opened ? "Close navigation" : "Open navigation"}
              />
              <Text
                component={Link}
                to="/"
                fw={700}
                size="lg"
                c="blue.9"
                style={{ textDecoration: "none", whiteSpace: "nowrap" }}
              >
                Service Flow
              </Text>
            </Group>
            <Group gap="xs" wrap="nowrap">
              <HeaderExtras />
              {me.user && <NotificationBell />}
              <UserMenu />
            </Group>
          </Group>
        </AppShell.Header>
        <AppShell.Navbar p="xs" component="nav" aria-label="Main">
          {items.map((i) => (
            <NavLink
              key={i.to}
              component={Link}
              to={i.to}
              label={i.label}
              active={active === i.to}
              aria-current={active === i.to ? "page" : undefined}
              onClick={close}
            />
          ))}
        </AppShell.Navbar>
        <AppShell.Main id="main" tabIndex={-1}>
          <ErrorBoundary resetKey={loc.pathname}>
            <Suspense
              fallback={
                <Loading label="Loading" />
              }
            >
              <Outlet />
            </Suspense>
          </ErrorBoundary>
        </AppShell.Main>
      </AppShell>
    </>
  );
}
