"""A client of the Firecracker API, written from its published description only (the
paths, bodies and the {"fault_message": ...} errors), talking HTTP/1.1 over a Unix
socket as Firecracker's own clients do. The tests drive trivisor's control API with it
so that what works here works for the tools people already have."""
import http.client
import json
import socket


class UnixHTTPConnection(http.client.HTTPConnection):
    def __init__(self, path, timeout=30):
        super().__init__("localhost", timeout=timeout)
        self.path = path

    def connect(self):
        s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        s.settimeout(self.timeout)
        s.connect(self.path)
        self.sock = s


class ApiError(Exception):
    def __init__(self, status, fault):
        super().__init__(f"{status}: {fault}")
        self.status = status
        self.fault = fault


class Client:
    def __init__(self, sock_path, timeout=60):
        self.sock_path = str(sock_path)
        self.timeout = timeout

    def raw(self, method, path, body=None, headers=None):
        """(status, parsed JSON body or None, raw bytes)."""
        c = UnixHTTPConnection(self.sock_path, self.timeout)
        try:
            if isinstance(body, (dict, list)):
                body = json.dumps(body)
            h = {"Accept": "application/json"}
            if body is not None:
                h["Content-Type"] = "application/json"
            h.update(headers or {})
            c.request(method, path, body=body, headers=h)
            r = c.getresponse()
            data = r.read()
            parsed = json.loads(data) if data else None
            return r.status, parsed, data
        finally:
            c.close()

    def call(self, method, path, body=None):
        status, parsed, _ = self.raw(method, path, body)
        if status >= 300:
            raise ApiError(status, (parsed or {}).get("fault_message"))
        return parsed

    # The Firecracker operations the tests use.
    def describe_instance(self):
        return self.call("GET", "/")

    def vm_config(self):
        return self.call("GET", "/vm/config")

    def boot_source(self, kernel, boot_args=None, initrd=None):
        body = {"kernel_image_path": kernel}
        if boot_args is not None:
            body["boot_args"] = boot_args
        if initrd is not None:
            body["initrd_path"] = initrd
        return self.call("PUT", "/boot-source", body)

    def machine_config(self, vcpus, mem_mib):
        return self.call("PUT", "/machine-config", {"vcpu_count": vcpus, "mem_size_mib": mem_mib})

    def drive(self, drive_id, path, root=False, read_only=False):
        return self.call("PUT", f"/drives/{drive_id}",
                         {"drive_id": drive_id, "path_on_host": str(path),
                          "is_root_device": root, "is_read_only": read_only})

    def network_interface(self, iface_id, host_dev_name, guest_mac=None):
        body = {"iface_id": iface_id, "host_dev_name": host_dev_name}
        if guest_mac:
            body["guest_mac"] = guest_mac
        return self.call("PUT", f"/network-interfaces/{iface_id}", body)

    def action(self, action_type):
        return self.call("PUT", "/actions", {"action_type": action_type})

    def start(self):
        return self.action("InstanceStart")

    def pause(self):
        return self.call("PATCH", "/vm", {"state": "Paused"})

    def resume(self):
        return self.call("PATCH", "/vm", {"state": "Resumed"})

    def snapshot_create(self, snapshot_path, mem_file_path):
        return self.call("PUT", "/snapshot/create",
                         {"snapshot_type": "Full", "snapshot_path": str(snapshot_path),
                          "mem_file_path": str(mem_file_path)})

    def snapshot_load(self, snapshot_path, mem_file_path, resume_vm=False):
        return self.call("PUT", "/snapshot/load",
                         {"snapshot_path": str(snapshot_path),
                          "mem_backend": {"backend_type": "File",
                                          "backend_path": str(mem_file_path)},
                          "resume_vm": resume_vm})
