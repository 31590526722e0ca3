Feature: Documents and tokens expire, and senders can revoke
  A transfer is meant for one referral and a short time. After expiry or revocation the
  repository refuses the document and deletes its bytes, and a receiving hospital refuses an
  expired token before it asks the repository for anything.

  @actor:repository @CPDI-RET-01 @option:core @required
  Scenario: The repository refuses a document after it expires
    Given transfers expire 3 seconds after they are sent
    And the sending hospital has sent a referral study of 3 CT images for patient "山田 太郎"
    When 4 seconds pass
    And the receiving hospital downloads the document named in the token
    Then the repository refuses the download because the document is gone

  @actor:repository @CPDI-RET-01 @option:core @required
  Scenario: The repository deletes the bytes of an expired document
    Given transfers expire 3 seconds after they are sent
    And the sending hospital has sent a referral study of 3 CT images for patient "山田 太郎"
    When 4 seconds pass
    Then the repository no longer holds the bytes of the document

  @actor:repository @CPDI-DL-01 @option:core @required
  Scenario: The repository refuses a revoked document
    Given the sending hospital has sent a referral study of 3 CT images for patient "山田 太郎"
    When the sending hospital revokes the document
    And the receiving hospital downloads the document named in the token
    Then the repository refuses the download because the document is gone
    And the repository no longer holds the bytes of the document

  @actor:receiver @CPDI-RET-01 @option:core @required
  Scenario: The receiver refuses an expired token before downloading
    Given the sending hospital has sent a referral study of 3 CT images for patient "山田 太郎"
    And the patient's token is one whose validity ended 1 hour ago
    When the patient hands the token to the receiving hospital as "the electronic token"
    Then the receiving hospital refuses the transfer
    And the receiving hospital is told "the token has expired"
    And the repository was not asked for the document

  @actor:receiver @CPDI-RET-01 @option:core @required
  Scenario: The receiver reports a document the repository no longer serves
    Given the sending hospital has sent a referral study of 3 CT images for patient "山田 太郎"
    And the sending hospital has revoked the document
    When the patient hands the token to the receiving hospital as "the electronic token"
    Then the receiving hospital refuses the transfer
    And the receiving hospital is told "the document is no longer available"
    And the receiving PACS holds no image of the study
