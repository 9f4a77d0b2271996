// The bell in the header: unread count from GET /notifications/unread-count,
// kept current by the `notifications` topic (notification.created adds one,
// notification.read carries the new count).
import { ActionIcon, Indicator } from "@mantine/core";
import { useQuery } from "@tanstack/react-query";
import { Link } from "react-router-dom";
import { api, unwrap } from "../api/client";
import { useLiveQuery } from "../live/hooks";

export const unreadKey = ["notifications", "unread-count"] as const;
type Unread = { unread: number };

export function NotificationBell() {
  const q = useQuery({
    queryKey: unreadKey,
    queryFn: () => unwrap(api.GET("/api/v1/notifications/unread-count")) as Promise<Unread>,
  });
  useLiveQuery<Unread>("notifications", unreadKey, (old, ev) => {
    if (ev.type === "notification.read" && typeof ev.data.unread === "number") return { unread: ev.data.unread };
    if (ev.type === "notification.created" && old) return { unread: old.unread + (ev.data.read ? 0 : 1) };
    return undefined;
  });
  const n = q.data?.unread ?? 0;
  const label = n ? `Notifications, ${n} unread` : "Notifications";
  return (
    <Indicator
      label={<span data-testid="notification-badge">{n > 99 ? "99+" : n}</span>}
      size={18}
      color="red.9"
      disabled={n === 0}
      offset={4}
    >
      <ActionIcon
        component={Link}
        to="/account/notifications"
        variant="subtle"
        size="lg"
        aria-label={label}
        data-testid="notification-bell"
      >
        <svg width="22" height="22" viewBox="0 0 24 24" aria-hidden="true" fill="none" stroke="currentColor" strokeWidth="2">
          <path d="M6 8a6 6 0 1 1 12 0c0 7 3 9 3 9H3s3-2 3-9" />
          <path d="M10.3 21a1.94 1.94 0 0 0 3.4 0" />
        </svg>
      </ActionIcon>
    </Indicator>
  );
}
