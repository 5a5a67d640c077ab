"""Boot arguments and the role (contract 10.2, scenario A22)."""

from vrmonitor.cloudstack.cmdline import BootArgs, parse_cmdline, read_cmdline
from vrmonitor.paths import Paths

A22 = "template=domP type=secstorage host=10.0.0.1,10.0.0.2 port=8250 name=s-1-VM"


def _at(tmp_path, text):
    paths = Paths(tmp_path)
    paths.cmdline.parent.mkdir(parents=True, exist_ok=True)
    paths.cmdline.write_text(text)
    return read_cmdline(paths)


def test_secstorage_role_hosts_port_and_name(tmp_path):
    boot = _at(tmp_path, A22 + "\n")
    assert boot.role == "secstorage"
    assert boot.is_system_vm
    assert boot.management_servers == ["10.0.0.1", "10.0.0.2"]
    assert boot.agent_port == 8250
    assert boot.name == "s-1-VM"


def test_consoleproxy_role(tmp_path):
    assert _at(tmp_path, "type=consoleproxy name=v-2-VM").role == "consoleproxy"


def test_router_is_not_a_system_vm_of_section_10(tmp_path):
    boot = _at(tmp_path, "type=router name=r-4-VM redundant_router=true")
    assert (boot.role, boot.is_system_vm, boot.redundant) == ("router", False, True)


def test_a_token_is_split_on_its_first_equals_sign():
    assert parse_cmdline("key=a=b authorized_key=QUJD==")["key"] == "a=b"
    assert parse_cmdline("authorized_key=QUJD==")["authorized_key"] == "QUJD=="


def test_tokens_without_equals_sign_are_ignored():
    assert dict(parse_cmdline("quiet type=router =x")) == {"type": "router"}


def test_no_file_or_no_type_is_an_unknown_role(tmp_path):
    assert read_cmdline(Paths(tmp_path)).role is None
    assert read_cmdline(Paths(tmp_path)).present is False
    assert _at(tmp_path, "name=s-1-VM").role is None


def test_public_ip_is_eth1ip_when_eth2ip_is_unset():
    assert BootArgs(parse_cmdline("eth1ip=10.1.1.5 eth2ip=0.0.0.0")).public_ip == "10.1.1.5"
    assert BootArgs(parse_cmdline("eth1ip=10.1.1.5 eth2ip=192.0.2.10")).public_ip == "192.0.2.10"


def test_bad_port_falls_back_to_8250():
    assert BootArgs(parse_cmdline("port=x")).agent_port == 8250
    assert BootArgs(parse_cmdline("port=9250")).agent_port == 9250
