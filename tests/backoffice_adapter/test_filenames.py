from backoffice_adapter import filenames


def test_a_name_already_in_the_parcel_gets_a_number_before_its_extension() -> None:
    taken = {"UPO-1.xml", "plan.pdf"}
    assert filenames.unique("plan.pdf", taken) == "plan-2.pdf"
    assert filenames.unique("plan.pdf", taken) == "plan-3.pdf"
    assert filenames.unique("README", taken) == "README"
    assert filenames.unique("README", taken) == "README-2"
    assert taken == {"UPO-1.xml", "plan.pdf", "plan-2.pdf", "plan-3.pdf", "README", "README-2"}
