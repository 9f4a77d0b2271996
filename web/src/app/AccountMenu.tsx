// The account menu in the header (lazy: Shell.tsx): profile, security,
// notifications, sign out.
import { Menu } from "@mantine/core";
import { Link, useNavigate } from "react-router-dom";
import { logout, type User } from "../api/session";
import { AccountButton } from "./AccountButton";
import { queryClient } from "./queryClient";

export default function AccountMenu({ user }: { user: User }) {
  const nav = useNavigate();
  return (
    <Menu position="bottom-end" withinPortal>
      <Menu.Target>
        <AccountButton user={user} data-testid="user-menu" />
      </Menu.Target>
      <Menu.Dropdown>
        <Menu.Label>{user.role}</Menu.Label>
        <Menu.Item component={Link} to="/account">
          Profile
        </Menu.Item>
        <Menu.Item component={Link} to="/account/security">
          Password and MFA
        </Menu.Item>
        <Menu.Item component={Link} to="/account/notifications">
          Notifications
        </Menu.Item>
        <Menu.Divider />
        <Menu.Item
          onClick={async () => {
            await logout();
            queryClient.clear();
            nav("/");
          }}
        >
          Sign out
        </Menu.Item>
      </Menu.Dropdown>
    </Menu>
  );
}
