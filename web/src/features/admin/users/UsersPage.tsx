import { Coming } from "../../../ui/Coming";

export default function UsersPage() {
  return <Coming title="UsersPage" />;
}
