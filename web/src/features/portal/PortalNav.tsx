// The portal's two views as links: the catalog (new request) and my requests.
import { Button, Group } from "@mantine/core";
import { Link, useLocation } from "react-router-dom";

const views = [
  { to: "/portal", label: "New request" },
  { to: "/portal/requests", label: "My requests" },
];

export function PortalNav() {
  const { pathname } = useLocation();
  const current = pathname.startsWith("/portal/requests") ? "/portal/requests" : "/portal";
  return (
    <Group gap="xs" component="nav" aria-label="Service portal">
      {views.map((v) => (
        <Button
          key={v.to}
          component={Link}
          to={v.to}
          size="sm"
          variant={current === v.to ? "filled" : "default"}
          aria-current={current === v.to ? "page" : undefined}
        >
          {v.label}
        </Button>
      ))}
    </Group>
  );
}
