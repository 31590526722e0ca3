Feature: One token, three forms
  ISO/TS 22691 gives a token an electronic form, a machine-readable symbol and a printed form,
  and all three carry the same items. A patient carries the printed token slip with its QR
  code; a hospital sends the electronic token sealed to the receiving hospital's key.

  @actor:sender @HIT-FMT-01 @CPDI-TOK-05 @option:token-slip @required
  Scenario Outline: The sender's <form> carries the same token as every other form
    Given a referral study of 3 CT images for patient "山田 太郎"
    And the receiving hospital has published its key for sealed tokens
    When the sending hospital sends the study to the receiving hospital
    Then the <form> carries the same token items as every other form of the token

    Examples: printed and symbol forms
      | form                            |
      | QR code on the token slip       |
      | words printed on the token slip |
      | code for typing by hand         |

  @actor:sender @HIT-FMT-01 @CPDI-TOK-04 @option:sealed-token @required
  Scenario: The sender's sealed electronic token carries the same token as every other form
    Given a referral study of 3 CT images for patient "山田 太郎"
    And the receiving hospital has published its key for sealed tokens
    When the sending hospital sends the study to the receiving hospital
    Then the sealed electronic token carries the same token items as every other form of the token

  @actor:sender @CPDI-TOK-04 @option:sealed-token @required
  Scenario: The electronic token is sealed to the receiving hospital
    Given a referral study of 3 CT images for patient "山田 太郎"
    And the receiving hospital has published its key for sealed tokens
    When the sending hospital sends the study to the receiving hospital
    Then only the receiving hospital's key opens the sealed electronic token
    And the sealed electronic token is signed by the sending hospital

  @actor:receiver @HIT-FMT-01 @CPDI-TOK-05 @option:token-slip @required
  Scenario Outline: The receiver accepts the token as <form>
    Given the receiving hospital knows patient "山田 太郎" as local patient ID "R0001234"
    And the receiving hospital has published its key for sealed tokens
    And the sending hospital has sent a referral study of 3 CT images for patient "山田 太郎"
    When the patient hands the token to the receiving hospital as <form>
    Then the receiving PACS holds 3 images of the study

    Examples: what the patient carries
      | form                                  |
      | "a scan of the printed token slip"    |
      | "a photo of the token slip's QR code" |
      | "the code typed in by hand"           |

  @actor:receiver @HIT-FMT-01 @CPDI-TOK-04 @option:sealed-token @required
  Scenario: The receiver accepts the token as "the sealed electronic token"
    Given the receiving hospital knows patient "山田 太郎" as local patient ID "R0001234"
    And the receiving hospital has published its key for sealed tokens
    And the sending hospital has sent a referral study of 3 CT images for patient "山田 太郎"
    When the patient hands the token to the receiving hospital as "the sealed electronic token"
    Then the receiving PACS holds 3 images of the study

  @actor:receiver @HIT-FMT-01 @option:token-slip @required
  Scenario: A code typed in by hand with one character wrong is refused
    Given the sending hospital has sent a referral study of 3 CT images for patient "山田 太郎"
    When the patient hands the token to the receiving hospital as "the code typed in by hand, with one character wrong"
    Then the receiving hospital refuses the transfer
    And the repository was not asked for the document

  @actor:receiver @CPDI-TOK-04 @option:sealed-token @required
  Scenario Outline: A sealed token that <fault> is refused
    Given the receiving hospital has published its key for sealed tokens
    And the sending hospital has sent a referral study of 3 CT images for patient "山田 太郎"
    And the token the receiving hospital is handed <fault>
    When the patient hands the token to the receiving hospital as "the sealed electronic token"
    Then the receiving hospital refuses the transfer
    And the repository was not asked for the document

    Examples: sealed tokens the receiving hospital must not accept
      | fault                                                         |
      | is sealed to another hospital's key                           |
      | is signed by a facility the receiving hospital does not trust |
      | was altered on the way                                        |
      | has lost the sending hospital's signature                     |

  @actor:sender @HIT-PSEUD-01 @option:pseudonymised-token @required
  Scenario: A token that refers to the patient by pseudonym reveals no identity
    Given a referral study of 3 CT images for patient "山田 太郎"
    And the sending hospital refers to patients by pseudonym
    When the sending hospital sends the study to the receiving hospital
    Then the token carries a patient pseudonym
    And no form of the token reveals the patient's name or patient ID

  @actor:receiver @HIT-PSEUD-01 @CPDI-RCV-02 @option:pseudonymised-token @required
  Scenario: The receiver imports a transfer whose token names a pseudonym
    Given the receiving hospital knows patient "山田 太郎" as local patient ID "R0001234"
    And the sending hospital refers to patients by pseudonym
    And a referral study of 3 CT images for patient "山田 太郎"
    When the sending hospital sends the study to the receiving hospital
    Then every image in the receiving PACS has patient ID "R0001234"
