import { Coming } from "../../../ui/Coming";

export default function AdminOrdersPage() {
  return <Coming title="AdminOrdersPage" />;
}
