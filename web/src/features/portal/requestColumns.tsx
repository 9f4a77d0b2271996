// The columns a list of requests shows wherever it is (the portal's "my
// requests", the desk's queue): the title linking to the request's page,
// its type's name, its state, when it was opened.
import { Anchor } from "@mantine/core";
import { Link } from "react-router-dom";
import type { Column } from "../../ui/CursorTable";
import { dateTime } from "../../ui/format";
import type { ServiceRequest } from "./requestsApi";
import { StateBadge } from "./words";

type Breakpoint = Column<ServiceRequest>["visibleFrom"];

/** `to`: the request's page; `typeName`: a type's display name; the breakpoints hide type and opened on narrow screens. */
export function requestColumns(to: (id: string) => string, typeName: (type: string) => string, from: { type: Breakpoint; opened: Breakpoint }) {
  const title: Column<ServiceRequest> = {
    header: "Request",
    cell: (r) => (
      <Anchor component={Link} to={to(r.id)}>
        {r.title}
      </Anchor>
    ),
  };
  const type: Column<ServiceRequest> = { header: "Type", cell: (r) => typeName(r.type), visibleFrom: from.type };
  const state: Column<ServiceRequest> = { header: "State", cell: (r) => <StateBadge request={r} /> };
  const opened: Column<ServiceRequest> = { header: "Opened", cell: (r) => dateTime(r.created_at), visibleFrom: from.opened };
  return { title, type, state, opened };
}
