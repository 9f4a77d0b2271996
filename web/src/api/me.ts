// Who is signed in, and what the shell may offer them.
import { useSyncExternalStore } from "react";
import { useQuery } from "@tanstack/react-query";
import { api, unwrap } from "./client";
import { getSession, subscribeSession, updateSessionUser, type SessionState, type User } from "./session";

export type Role = User["role"];
/** The areas of the app; each is offered only to the roles that can use its API. */
export type Area = "shop" | "portal" | "desk" | "approvals" | "admin";

const areaRoles: Record<Area, Role[]> = {
  shop: ["customer", "staff", "approver", "admin"],
  portal: ["customer", "staff", "approver", "admin"],
  desk: ["staff", "admin"], // workflows:read + queues: the agents
  approvals: ["approver", "staff", "admin"],
  admin: ["admin"],
};

export function canUse(user: Pick<User, "role"> | null | undefined, area: Area): boolean {
  return !!user && areaRoles[area].includes(user.role);
}

export function useSession(): SessionState {
  return useSyncExternalStore(subscribeSession, getSession, getSession);
}

export const meKey = ["me"] as const;

/**
 * GET /users/me for the signed-in user (null for a guest). `roles` lists
 * the user's role (one per user today) so callers can test membership.
 */
export function useMe() {
  const s = useSession();
  const query = useQuery({
    queryKey: meKey,
    enabled: s.status === "signed-in",
    queryFn: async () => {
      const user = await unwrap(api.GET("/api/v1/users/me"));
      updateSessionUser(user);
      return user;
    },
    initialData: s.user ?? undefined,
    staleTime: 60_000,
  });
  const user = s.status === "signed-in" ? (query.data ?? s.user) : null;
  return {
    status: s.status,
    user,
    roles: user ? [user.role] : ([] as Role[]),
    can: (area: Area) => canUse(user, area),
  };
}
