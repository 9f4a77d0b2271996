import { Coming } from "../../../ui/Coming";

export default function AdminOrderPage() {
  return <Coming title="AdminOrderPage" />;
}
