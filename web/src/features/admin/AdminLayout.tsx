// The admin area's frame: a second navigation (its sections) above the
// section's screen, which loads lazily inside.
import { Suspense } from "react";
import { Center, Group, Loader, NavLink, Paper, Stack } from "@mantine/core";
import { Link, Outlet, useLocation } from "react-router-dom";

const sections = [
  { to: "/admin/workflows", label: "Workflows" },
  { to: "/admin/users", label: "Users" },
  { to: "/admin/catalog", label: "Catalog" },
  { to: "/admin/orders", label: "Orders" },
  { to: "/admin/webhooks", label: "Webhooks" },
  { to: "/admin/mail", label: "Mail" },
  { to: "/admin/system", label: "System" },
];

export default function AdminLayout() {
  const loc = useLocation();
  return (
    <Stack gap="md">
      <Paper withBorder p={4} component="nav" aria-label="Administration">
        <Group gap={4} wrap="wrap">
          {sections.map((s) => {
            const active = loc.pathname === s.to || loc.pathname.startsWith(`${s.to}/`);
            return (
              <NavLink
                key={s.to}
                component={Link}
                to={s.to}
                label={s.label}
                active={active}
                aria-current={active ? "page" : undefined}
                w="auto"
                style={{ borderRadius: 4 }}
              />
            );
          })}
        </Group>
      </Paper>
      <Suspense
        fallback={
          <Center py="xl">
            <Loader aria-label="Loading" />
          </Center>
        }
      >
        <Outlet />
      </Suspense>
    </Stack>
  );
}
