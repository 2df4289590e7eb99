// A hosts file for one child process: loaded with `node --import` (see hostsPreload), it
// answers the names in CVW_TEST_HOSTS ("name=ip,ip;name2=ip") from that list and leaves every
// other name to the system resolver. It stands in for cluster DNS, where a headless Service's
// name resolves to every ready pod's address, so a test on loopback can dial the very name the
// manifests use. grpc-js resolves names through dns.promises.lookup.
import dns from "node:dns";
import { pathToFileURL } from "node:url";

/** NODE_OPTIONS and CVW_TEST_HOSTS for a child that should resolve `hosts` this way. */
export function hostsPreload(hosts: Record<string, string[]>): Record<string, string> {
  return {
    NODE_OPTIONS: `--import=${pathToFileURL(import.meta.filename).href}`,
    CVW_TEST_HOSTS: Object.entries(hosts)
      .map(([name, ips]) => `${name}=${ips.join(",")}`)
      .join(";"),
  };
}

const table = new Map(
  (process.env.CVW_TEST_HOSTS ?? "")
    .split(";")
    .filter(Boolean)
    .map((entry) => {
      const [name, ips = ""] = entry.split("=");
      return [name!.toLowerCase(), ips.split(",").filter(Boolean)] as const;
    }),
);

if (table.size > 0) {
  const system = dns.promises.lookup;
  type Options = { all?: boolean; family?: number | string };
  const answer = (ips: string[], options: Options | number | undefined) => {
    const family = typeof options === "object" ? Number(options.family ?? 0) : Number(options ?? 0);
    const all = ips
      .map((address) => ({ address, family: address.includes(":") ? 6 : 4 }))
      .filter((a) => family === 0 || a.family === family);
    return typeof options === "object" && options.all ? all : all[0];
  };
  dns.promises.lookup = (async (hostname: string, options?: Options | number) => {
    const ips = table.get(hostname.toLowerCase());
    return ips ? answer(ips, options) : system(hostname, options as never);
  }) as typeof dns.promises.lookup;
}
