import { Coming } from "../../../ui/Coming";

export default function CatalogAdminPage() {
  return <Coming title="CatalogAdminPage" />;
}
