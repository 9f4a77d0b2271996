// Where a notification's subject lives in the app (the API's `link` is the
// resource's API path; people want the screen).
export function subjectPath(subject: { type?: string; id?: string } | null | undefined, role?: string): string | null {
  if (!subject?.id) return null;
  switch (subject.type) {
    case "order":
      return `/orders/${subject.id}`;
    case "product":
      return `/products/${subject.id}`;
    case "request":
      return role === "staff" || role === "admin" ? `/desk/requests/${subject.id}` : `/portal/requests/${subject.id}`;
    default:
      return null;
  }
}
