// The first reads of the desk's screens (app/lazyPage.ts, "prefetch"):
// started with the screen's chunk, as soon as the session allows, from this
// small module of the first load rather than from the screens' chunks.
import type { Params } from "react-router-dom";
import { getSession } from "../../api/session";
import { signedIn } from "../../app/lazyPage";
import { queryClient } from "../../app/queryClient";
import { mayListUsers, requestEventsQuery, requestQuery, requestTypesQuery, usersQuery } from "../portal/requestsApi";
import { inboxQuery } from "./deskApi";

/** A request as the desk works it: the request, its history, the types and the people named. */
export async function requestPrefetch({ id }: Params) {
  if (!id || !(await signedIn())) return;
  await Promise.all([
    queryClient.prefetchQuery(requestQuery(id)),
    queryClient.prefetchQuery(requestEventsQuery(id)),
    queryClient.prefetchQuery(requestTypesQuery()),
    // the names of the people on the screen (staff and admins may list users): read with the
    // rest, not after the first draw (a second draw of every name, a shift of the text)
    mayListUsers(getSession().user?.role) ? queryClient.prefetchQuery(usersQuery()) : null,
  ]);
}

/** The approvals inbox: its first page and the request types. */
export async function inboxPrefetch() {
  if (!(await signedIn())) return;
  await Promise.all([queryClient.prefetchInfiniteQuery(inboxQuery()), queryClient.prefetchQuery(requestTypesQuery())]);
}
