// The header's account button: the signed-in person's initials (phones) or
// name. AccountMenu.tsx makes it the menu's target; Shell.tsx draws it alone
// while that menu loads.
import { forwardRef, type ComponentPropsWithoutRef } from "react";
import { Avatar, Text, UnstyledButton } from "@mantine/core";
import type { User } from "../api/session";

function initials(name: string): string {
  return name
    .split(/[\s@.]+/)
    .filter(Boolean)
    .slice(0, 2)
    .map((w) => w.charAt(0).toUpperCase())
    .join("");
}

type Props = { user: User } & ComponentPropsWithoutRef<"button">;

export const AccountButton = forwardRef<HTMLButtonElement, Props>(function AccountButton({ user, ...rest }, ref) {
  const name = user.name || user.email;
  return (
    <UnstyledButton ref={ref} aria-label={`Account menu for ${name}`} {...rest}>
      <Avatar color="blue.9" variant="filled" radius="xl" size="sm" hiddenFrom="sm" aria-hidden="true">
        {initials(name)}
      </Avatar>
      <Text size="sm" fw={500} truncate maw={200} visibleFrom="sm">
        {name}
      </Text>
    </UnstyledButton>
  );
});
