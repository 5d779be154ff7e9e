import { ValidationError } from "./errors.js";
import type { PortForward } from "./types.js";

function parsePort(text: string, spec: string): number {
  if (!/^\d+$/.test(text)) throw new ValidationError("portForward", `"${spec}": "${text}" is not a port number`);
  const port = Number(text);
  if (port < 1 || port > 65535) throw new ValidationError("portForward", `"${spec}": port ${port} is out of range 1-65535`);
  return port;
}

/** Parses `"[LOCAL:]REMOTE"` (`"8080"` → 8080→8080, `"18081:81"` → 18081→81). */
export function parsePortForwardSpec(spec: string): PortForward {
  const text = spec.trim();
  const parts = text.split(":");
  if (parts.length === 1) {
    const port = parsePort(parts[0]!, spec);
    return { localPort: port, remotePort: port };
  }
  if (parts.length === 2) {
    return { localPort: parsePort(parts[0]!, spec), remotePort: parsePort(parts[1]!, spec) };
  }
  throw new ValidationError("portForward", `"${spec}": expected [LOCAL:]REMOTE`);
}

/** Checks a forward given as numbers. */
export function validatePortForward(forward: PortForward): PortForward {
  for (const [name, port] of [["localPort", forward.localPort], ["remotePort", forward.remotePort]] as const) {
    if (!Number.isInteger(port) || port < 1 || port > 65535) {
      throw new ValidationError("portForward", `${name} ${port} is out of range 1-65535`);
    }
  }
  return { localPort: forward.localPort, remotePort: forward.remotePort };
}

/** The `port_forward` params. */
export function portForwardParams(forwards: PortForward[], addresses: string[] | undefined): Record<string, unknown> {
  if (forwards.length === 0) throw new ValidationError("portForward", "at least one forward is required");
  const params: Record<string, unknown> = {
    forwards: forwards.map((f) => ({ local_port: f.localPort, remote_port: f.remotePort })),
  };
  params.addresses = addresses && addresses.length > 0 ? [...addresses] : ["127.0.0.1"];
  return params;
}
